// FlagSet: command-line flags for one (sub)command.
//
// Flags are declared with a help text and bound to a variable; Parse() accepts
// `--name value`, `--name=value` and, for booleans, `--name`. Values are
// checked (an integer flag given "ten" is an error naming the flag); unknown
// flags are errors pointing at --help. Positional arguments are returned in
// order. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain {

class FlagSet {
 public:
  // `command` is used in messages ("shardtrain train"); `usage` is the synopsis line.
  FlagSet(std::string command, std::string usage, std::string description);

  void String(const std::string& name, std::optional<std::string>* value, std::string help);
  void Int(const std::string& name, std::optional<int64_t>* value, std::string help);
  void UInt(const std::string& name, std::optional<uint64_t>* value, std::string help);
  void Float(const std::string& name, std::optional<float>* value, std::string help);
  void Bool(const std::string& name, bool* value, std::string help);

  // Parses args (not including the program and command names). Sets
  // help_requested() for -h/--help instead of failing on other input.
  Status Parse(const std::vector<std::string>& args);
  bool help_requested() const { return help_requested_; }
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string value_name;  // empty for booleans
    std::function<Status(const std::string&)> set;
  };
  const Flag* Find(const std::string& name) const;

  std::string command_;
  std::string usage_;
  std::string description_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

}  // namespace shardtrain
