// Framing of the coordinator protocol on a TCP stream:
//
//   offset  size    content
//   0       4       length N: uint32 little-endian, bytes of the body
//   4       N       a serialized shardtrain.coordinator.Envelope
//
// A reader rejects N > its maximum before reading the body (so a bogus length
// cannot make it allocate), and a body that does not parse as an Envelope.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

inline constexpr size_t kFrameHeaderBytes = 4;
// Default largest body a peer may send (64 MiB).
inline constexpr size_t kDefaultMaxMessageBytes = size_t{64} << 20;

// Header + body of `message`.
std::string EncodeFrame(const Envelope& message);
// The body length in a 4-byte header.
uint32_t DecodeFrameLength(const unsigned char header[kFrameHeaderBytes]);
// InvalidArgument when `length` exceeds `max_bytes`.
Status CheckFrameLength(uint32_t length, size_t max_bytes);
// Parses a body; InvalidArgument when it is not an Envelope with a body set.
StatusOr<Envelope> DecodeFrameBody(const std::string& body);

}  // namespace shardtrain::coordinator
