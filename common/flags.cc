#include "common/flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace shardtrain {
namespace {

Status BadValue(const std::string& command, const std::string& name, const std::string& value,
                const char* expected) {
  return InvalidArgumentError(command + ": --" + name + " expects " + expected + ", got '" +
                              value + "'");
}

}  // namespace

FlagSet::FlagSet(std::string command, std::string usage, std::string description)
    : command_(std::move(command)), usage_(std::move(usage)), description_(std::move(description)) {}

void FlagSet::String(const std::string& name, std::optional<std::string>* value, std::string help) {
  flags_.push_back({name, std::move(help), "S", [value](const std::string& v) {
                      *value = v;
                      return OkStatus();
                    }});
}

void FlagSet::Int(const std::string& name, std::optional<int64_t>* value, std::string help) {
  flags_.push_back({name, std::move(help), "N", [this, name, value](const std::string& v) {
                      char* end = nullptr;
                      errno = 0;
                      long long parsed = std::strtoll(v.c_str(), &end, 10);
                      if (v.empty() || *end != '\0' || errno != 0) {
                        return BadValue(command_, name, v, "an integer");
                      }
                      *value = parsed;
                      return OkStatus();
                    }});
}

void FlagSet::UInt(const std::string& name, std::optional<uint64_t>* value, std::string help) {
  flags_.push_back({name, std::move(help), "N", [this, name, value](const std::string& v) {
                      char* end = nullptr;
                      errno = 0;
                      unsigned long long parsed = std::strtoull(v.c_str(), &end, 10);
                      if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0) {
                        return BadValue(command_, name, v, "a non-negative integer");
                      }
                      *value = parsed;
                      return OkStatus();
                    }});
}

void FlagSet::Float(const std::string& name, std::optional<float>* value, std::string help) {
  flags_.push_back({name, std::move(help), "X", [this, name, value](const std::string& v) {
                      char* end = nullptr;
                      errno = 0;
                      float parsed = std::strtof(v.c_str(), &end);
                      if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(parsed)) {
                        return BadValue(command_, name, v, "a number");
                      }
                      *value = parsed;
                      return OkStatus();
                    }});
}

void FlagSet::Bool(const std::string& name, bool* value, std::string help) {
  flags_.push_back({name, std::move(help), "", [value](const std::string&) {
                      *value = true;
                      return OkStatus();
                    }});
}

const FlagSet::Flag* FlagSet::Find(const std::string& name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      help_requested_ = true;
      return OkStatus();
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return InvalidArgumentError(command_ + ": unknown flag --" + name + "; see `" + command_ +
                                  " --help`");
    }
    if (flag->value_name.empty()) {
      if (inline_value) {
        return InvalidArgumentError(command_ + ": --" + name + " takes no value");
      }
      RETURN_IF_ERROR(flag->set(""));
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return InvalidArgumentError(command_ + ": --" + name + " needs a value");
      }
      inline_value = args[++i];
    }
    RETURN_IF_ERROR(flag->set(*inline_value));
  }
  return OkStatus();
}

std::string FlagSet::Help() const {
  std::ostringstream out;
  out << "usage: " << usage_ << "\n\n" << description_ << "\n";
  if (!flags_.empty()) out << "\nflags:\n";
  for (const Flag& flag : flags_) {
    std::string left = "  --" + flag.name + (flag.value_name.empty() ? "" : " " + flag.value_name);
    out << left;
    if (left.size() < 28) {
      out << std::string(28 - left.size(), ' ');
    } else {
      out << "\n" << std::string(28, ' ');
    }
    out << flag.help << "\n";
  }
  out << "  -h, --help                show this help\n";
  return out.str();
}

}  // namespace shardtrain
