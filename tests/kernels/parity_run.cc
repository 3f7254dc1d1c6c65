// ParityRun, ExpectParity and the completeness helpers of the parity table
// (tests/kernels/parity_cases.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "kernels/backend.h"
#include "tests/kernels/parity_cases.h"

namespace shardtrain::kernels::testing {
namespace {

// Written into outputs before a case runs, so an element no op writes
// compares equal on both backends instead of comparing garbage.
constexpr float kSentinel = 1234.5f;

// The first element where two float buffers differ in bits, or -1.
int64_t FirstBitDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; i += 4) {
    if (std::memcmp(a.data() + i, b.data() + i, std::min<size_t>(4, n - i)) != 0) {
      return static_cast<int64_t>(i / 4);
    }
  }
  return a.size() == b.size() ? -1 : static_cast<int64_t>(n / 4);
}

std::vector<float> AsFloats(const std::vector<uint8_t>& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// max |got - spec| / max |spec|; infinity where only one side is finite.
double RelativeError(const std::vector<float>& got, const std::vector<float>& spec) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (std::isfinite(got[i]) != std::isfinite(spec[i])) return INFINITY;
    if (!std::isfinite(spec[i])) continue;
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - spec[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(spec[i])));
  }
  return diff / scale;
}

void ExpectOutputEqual(const ParityOutput& got, const ParityOutput& spec, bool bitwise) {
  ASSERT_EQ(got.name, spec.name);
  ASSERT_EQ(got.bytes.size(), spec.bytes.size()) << got.name;
  if (got.is_float && !bitwise && spec.tolerance > 0) {
    EXPECT_LE(RelativeError(AsFloats(got.bytes), AsFloats(spec.bytes)), spec.tolerance) << got.name;
    return;
  }
  if (!got.is_float) {
    EXPECT_TRUE(got.bytes == spec.bytes) << got.name << " differs byte for byte";
    return;
  }
  const int64_t i = FirstBitDifference(got.bytes, spec.bytes);
  if (i >= 0) {
    ADD_FAILURE() << got.name << " differs in bits at element " << i << ": "
                  << AsFloats(got.bytes)[i] << " vs the CPU's " << AsFloats(spec.bytes)[i];
  }
}

StatusOr<std::vector<ParityOutput>> RunCase(const ParityCase& c, KernelBackend& backend,
                                            std::set<std::string>* methods) {
  ParityRun run(backend);
  c.body(run);
  std::vector<ParityOutput> outputs;
  RETURN_IF_ERROR(run.Finish(&outputs));
  if (methods != nullptr) methods->insert(run.methods().begin(), run.methods().end());
  return outputs;
}

}  // namespace

KernelBackend& ParityRun::Op(const char* method) {
  methods_.insert(method);
  return backend_;
}

void* ParityRun::Upload(const void* host, int64_t bytes, const std::string& what) {
  auto buffer = backend_.AllocateDevice(std::max<int64_t>(bytes, 4), what);
  if (!buffer.ok()) {
    if (status_.ok()) status_ = buffer.status();
    fallback_.emplace_back(static_cast<size_t>(std::max<int64_t>(bytes, 4)));
    return fallback_.back().data();
  }
  buffers_.push_back(std::move(*buffer));
  void* device = buffers_.back().data();
  // The copy may still be in flight when the caller's vector is gone: copy from our own.
  const auto* first = static_cast<const uint8_t*>(host);
  staged_.emplace_back(first, first + bytes);
  backend_.CopyToDevice(device, staged_.back().data(), bytes);
  return device;
}

float* ParityRun::In(const std::vector<float>& host) {
  return static_cast<float*>(Upload(host.data(), 4 * static_cast<int64_t>(host.size()), "input"));
}

int32_t* ParityRun::In(const std::vector<int32_t>& host) {
  return static_cast<int32_t*>(
      Upload(host.data(), 4 * static_cast<int64_t>(host.size()), "labels"));
}

uint8_t* ParityRun::In(const std::vector<uint8_t>& host) {
  return static_cast<uint8_t*>(Upload(host.data(), static_cast<int64_t>(host.size()), "mask"));
}

void ParityRun::AddOutput(const std::string& name, bool is_float, double tolerance, void* device,
                          int64_t bytes) {
  PendingOutput pending;
  pending.output.name = name;
  pending.output.is_float = is_float;
  pending.output.tolerance = tolerance;
  pending.output.bytes.resize(static_cast<size_t>(bytes));
  pending.device = device;
  outputs_.push_back(std::move(pending));
}

float* ParityRun::Out(const std::string& name, int64_t n, double tolerance) {
  return InOut(name, std::vector<float>(static_cast<size_t>(n), kSentinel), tolerance);
}

float* ParityRun::InOut(const std::string& name, const std::vector<float>& initial,
                        double tolerance) {
  const int64_t bytes = 4 * static_cast<int64_t>(initial.size());
  void* device = Upload(initial.data(), bytes, name);
  AddOutput(name, true, tolerance, device, bytes);
  return static_cast<float*>(device);
}

uint8_t* ParityRun::OutBytes(const std::string& name, int64_t n) {
  void* device = Upload(std::vector<uint8_t>(static_cast<size_t>(n), 0xa5).data(), n, name);
  AddOutput(name, false, 0, device, n);
  return static_cast<uint8_t*>(device);
}

void ParityRun::HostValue(const std::string& name, int64_t value) {
  PendingOutput pending;
  pending.output.name = name;
  pending.output.is_float = false;
  pending.output.bytes.resize(sizeof(value));
  std::memcpy(pending.output.bytes.data(), &value, sizeof(value));
  outputs_.push_back(std::move(pending));  // device == null: already on the host
}

Status ParityRun::Finish(std::vector<ParityOutput>* outputs) {
  RETURN_IF_ERROR(status_);
  RETURN_IF_ERROR(backend_.Synchronize());
  for (PendingOutput& pending : outputs_) {
    if (pending.device == nullptr) continue;
    backend_.CopyToHost(pending.output.bytes.data(), pending.device,
                        static_cast<int64_t>(pending.output.bytes.size()));
  }
  RETURN_IF_ERROR(backend_.Synchronize());
  outputs->clear();
  for (PendingOutput& pending : outputs_) outputs->push_back(std::move(pending.output));
  return OkStatus();
}

void ExpectParity(const ParityCase& c, KernelBackend& spec, KernelBackend& under_test,
                  bool bitwise) {
  auto expected = RunCase(c, spec, nullptr);
  ASSERT_TRUE(expected.ok()) << c.name << " on " << spec.name() << ": " << expected.status();
  auto got = RunCase(c, under_test, nullptr);
  ASSERT_TRUE(got.ok()) << c.name << " on " << under_test.name() << ": " << got.status();
  ASSERT_EQ(got->size(), expected->size()) << c.name;
  for (size_t i = 0; i < got->size(); ++i) ExpectOutputEqual((*got)[i], (*expected)[i], bitwise);
}

StatusOr<std::set<std::string>> ComputeMethodsOf(const std::string& backend_h) {
  std::ifstream in(backend_h);
  if (!in) return NotFoundError("cannot read " + backend_h);
  std::stringstream text;
  text << in.rdbuf();
  const std::set<std::string> not_compute = {"name",
                                             "device",
                                             "CheckErrors",
                                             "AllocateDevice",
                                             "AllocatePinned",
                                             "CopyToDevice",
                                             "CopyToHost",
                                             "CopyOnDevice",
                                             "CreateEvent",
                                             "RecordEvent",
                                             "StreamWaitEvent",
                                             "WaitEvent",
                                             "Synchronize",
                                             "host_reads_device_memory"};
  // `virtual <return type> Name(`, the return type possibly spanning words and '*'.
  const std::regex declaration(R"(virtual\s+[\w:<>,\s\*&]*?\b(~?\w+)\s*\()");
  std::set<std::string> methods;
  const std::string source = text.str();
  for (std::sregex_iterator it(source.begin(), source.end(), declaration), end; it != end; ++it) {
    const std::string method = (*it)[1];
    if (method[0] != '~' && !not_compute.count(method)) methods.insert(method);
  }
  if (methods.empty()) return DataLossError(backend_h + " declares no virtual method");
  return methods;
}

std::set<std::string> MethodsTheTableCalls() {
  std::unique_ptr<KernelBackend> cpu = CreateCpuBackend();
  std::set<std::string> methods;
  for (const ParityCase& c : ParityCases()) {
    auto outputs = RunCase(c, *cpu, &methods);
    EXPECT_TRUE(outputs.ok()) << c.name << ": " << outputs.status();
  }
  return methods;
}

}  // namespace shardtrain::kernels::testing
