// The backend parity table (issue 21): one list of cases that together call
// every compute method of KernelBackend. A case builds its inputs on the host,
// moves them to a backend with the memory API only (AllocateDevice,
// CopyToDevice, CopyToHost, Synchronize), runs ops there and names its
// outputs; ExpectParity runs it on the CPU backend (the specification) and on
// the backend under test and compares the outputs, bit for bit or within the
// case's relative tolerance. Runners: parity_strict_test.cc (the strict
// emulated device, bitwise), tests/gpu/parity_cuda_test.cc (CUDA).
//
// Completeness: a case calls ops through PARITY_OP, which records the method
// name; ComputeMethodsOf() reads kernels/backend.h and lists every virtual
// method except the non-compute ones, and the runners check that the table
// calls each of them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"

namespace shardtrain::kernels::testing {

// One output of a case, copied back to the host after the case ran.
struct ParityOutput {
  std::string name;
  bool is_float = true;  // compared as floats, else byte for byte
  double tolerance = 0;  // max |got - spec| / max |spec| (0: bitwise)
  std::vector<uint8_t> bytes;
};

// One case on one backend: device buffers made from host data through the
// memory API; Finish() reads the outputs back.
class ParityRun {
 public:
  explicit ParityRun(KernelBackend& backend) : backend_(backend) {}
  ParityRun(const ParityRun&) = delete;
  ParityRun& operator=(const ParityRun&) = delete;

  // The backend, recording that the case calls `method` (through PARITY_OP).
  KernelBackend& Op(const char* method);
  // Device copies of host data (inputs; not compared).
  float* In(const std::vector<float>& host);
  int32_t* In(const std::vector<int32_t>& host);
  uint8_t* In(const std::vector<uint8_t>& host);
  // A device buffer of n floats (or `initial`), compared after the case.
  float* Out(const std::string& name, int64_t n, double tolerance);
  float* InOut(const std::string& name, const std::vector<float>& initial, double tolerance);
  uint8_t* OutBytes(const std::string& name, int64_t n);  // compared byte for byte
  // A value an op returned to the host, compared exactly.
  void HostValue(const std::string& name, int64_t value);

  // Synchronizes, copies every output back and synchronizes again; the first
  // allocation or backend error.
  Status Finish(std::vector<ParityOutput>* outputs);
  const std::set<std::string>& methods() const { return methods_; }

 private:
  void* Upload(const void* host, int64_t bytes, const std::string& what);
  void AddOutput(const std::string& name, bool is_float, double tolerance, void* device,
                 int64_t bytes);

  struct PendingOutput {
    ParityOutput output;
    void* device = nullptr;
  };
  KernelBackend& backend_;
  std::deque<DeviceBuffer> buffers_;
  std::deque<std::vector<uint8_t>> staged_;    // host sources of copies in flight
  std::deque<std::vector<uint8_t>> fallback_;  // where an allocation failed
  std::vector<PendingOutput> outputs_;
  std::set<std::string> methods_;
  Status status_;
};

// PARITY_OP(r, DenseForward, x, w, ...) calls r's backend's DenseForward(x, w, ...).
#define PARITY_OP(run, method, ...) (run).Op(#method).method(__VA_ARGS__)

struct ParityCase {
  std::string name;  // letters, digits and '_' (a gtest parameter name)
  std::function<void(ParityRun&)> body;
};

// gtest prints a case (and ctest names its test) by the case's name.
inline void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name; }

// The table.
std::vector<ParityCase> ParityCases();
// Its losses, metrics, optimizers and initializers (parity_cases_losses.cc).
void LossCases(std::vector<ParityCase>& table);
void OptimizerAndInitializerCases(std::vector<ParityCase>& table);

// Runs `c` on `spec` (the CPU backend) and on `under_test`, then expects every
// output equal: bit for bit when `bitwise`, else within the case's tolerance.
void ExpectParity(const ParityCase& c, KernelBackend& spec, KernelBackend& under_test,
                  bool bitwise);

// The compute methods KernelBackend declares in the file `backend_h` (every
// `virtual ... Name(` except name, device, CheckErrors and the memory API).
StatusOr<std::set<std::string>> ComputeMethodsOf(const std::string& backend_h);

// The methods the table's cases call (they are run on a CPU backend).
std::set<std::string> MethodsTheTableCalls();

}  // namespace shardtrain::kernels::testing
