#include "coordinator/rpc/frame.h"

namespace shardtrain::coordinator {

std::string EncodeFrameHeader(uint32_t length) {
  std::string header(kFrameHeaderBytes, '\0');
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    header[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  }
  return header;
}

std::string EncodeFrame(const Envelope& message) {
  std::string body = message.SerializeAsString();
  return EncodeFrameHeader(static_cast<uint32_t>(body.size())) + body;
}

uint32_t DecodeFrameLength(const unsigned char header[kFrameHeaderBytes]) {
  return static_cast<uint32_t>(header[0]) | (static_cast<uint32_t>(header[1]) << 8) |
         (static_cast<uint32_t>(header[2]) << 16) | (static_cast<uint32_t>(header[3]) << 24);
}

Status CheckFrameLength(uint32_t length, size_t max_bytes) {
  if (length <= max_bytes) return OkStatus();
  return InvalidArgumentError("message of " + std::to_string(length) +
                              " bytes exceeds the maximum of " + std::to_string(max_bytes) +
                              " bytes");
}

StatusOr<Envelope> DecodeFrameBody(const std::string& body) {
  Envelope message;
  if (!message.ParseFromString(body)) {
    return InvalidArgumentError("malformed message: " + std::to_string(body.size()) +
                                " bytes that do not parse as a coordinator Envelope");
  }
  if (message.body_case() == Envelope::BODY_NOT_SET) {
    return InvalidArgumentError("malformed message: an Envelope with no message set");
  }
  return message;
}

}  // namespace shardtrain::coordinator
