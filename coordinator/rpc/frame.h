// Encoding and decoding of coordinator frames (layout in wire_format.h).
// Pure functions, no I/O; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "coordinator/rpc/wire_format.h"
#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

// Header + body of `message`.
std::string EncodeFrame(const Envelope& message);
// A header announcing a body of `length` bytes.
std::string EncodeFrameHeader(uint32_t length);
// The body length in a 4-byte header.
uint32_t DecodeFrameLength(const unsigned char header[kFrameHeaderBytes]);
// InvalidArgument "message of L bytes exceeds the maximum of M bytes" when
// `length` exceeds `max_bytes`.
Status CheckFrameLength(uint32_t length, size_t max_bytes);
// Parses a body; InvalidArgument when it is not an Envelope with a message set.
StatusOr<Envelope> DecodeFrameBody(const std::string& body);

}  // namespace shardtrain::coordinator
