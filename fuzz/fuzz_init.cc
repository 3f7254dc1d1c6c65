// LLVMFuzzerInitialize of every harness: drops protobuf's parse-error log lines
// (the parsers report errors as Status; millions of log lines would only slow
// the fuzzer down and bury its report).
#include <google/protobuf/stubs/logging.h>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
