// Fuzzes coordinator frames: the first 4 bytes are the header, the body
// follows: its announced length is checked and the body decoded into an Envelope.
#include <cstddef>
#include <cstdint>
#include <string>

#include "coordinator/rpc/frame.h"
#include "fuzz/fuzz_util.h"

namespace co = shardtrain::coordinator;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < co::kFrameHeaderBytes) return 0;
  const uint32_t length = co::DecodeFrameLength(data);
  if (!co::CheckFrameLength(length, co::kMaxMessageBytes).ok()) return 0;
  if (length > size - co::kFrameHeaderBytes) return 0;  // the socket would wait for more
  const std::string body = shardtrain::fuzz::AsString(data + co::kFrameHeaderBytes, length);
  auto message = co::DecodeFrameBody(body);
  if (message.ok()) (void)co::EncodeFrame(*message);
  return 0;
}
