// Byte layout of the coordinator protocol on a TCP stream (one frame per
// message, requests and replies alike):
//
//   offset  size    content
//   0       4       N: body length in bytes, uint32 little-endian
//   4       N       a serialized shardtrain.coordinator.Envelope (proto/coordinator.proto)
//
// A reader rejects N > its maximum message size before reading the body, so
// a bogus length can make it neither allocate nor wait for gigabytes. A body
// that does not parse as an Envelope, or has no message set, is malformed.
// In both cases the coordinator closes the connection without replying.
// Constants only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shardtrain::coordinator {

// Bytes of the length prefix.
inline constexpr size_t kFrameHeaderBytes = 4;
// Default largest body accepted (64 MiB); configurable per connection
// (CoordinatorOptions::max_message_bytes, CoordinatorClient's limit).
inline constexpr size_t kMaxMessageBytes = size_t{64} << 20;

}  // namespace shardtrain::coordinator
