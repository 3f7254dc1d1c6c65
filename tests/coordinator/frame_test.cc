// Coordinator framing (coordinator/rpc/wire_format.h): byte layout of the
// length prefix, round trips, and the exact errors for oversized and
// malformed frames.
#include "coordinator/rpc/frame.h"

#include <gtest/gtest.h>

namespace shardtrain::coordinator {
namespace {

TEST(FrameTest, HeaderIsLittleEndianLength) {
  EXPECT_EQ(EncodeFrameHeader(0x01020304u), std::string("\x04\x03\x02\x01", 4));
  const unsigned char header[4] = {0x00, 0x00, 0x00, 0x40};
  EXPECT_EQ(DecodeFrameLength(header), 1u << 30);
  EXPECT_EQ(kFrameHeaderBytes, 4u);
  EXPECT_EQ(kMaxMessageBytes, size_t{64} << 20);
}

TEST(FrameTest, RoundTrip) {
  Envelope message;
  message.mutable_heartbeat()->set_rank(3);
  message.mutable_heartbeat()->set_step(12345);
  const std::string frame = EncodeFrame(message);
  ASSERT_GE(frame.size(), kFrameHeaderBytes);
  const uint32_t length = DecodeFrameLength(reinterpret_cast<const unsigned char*>(frame.data()));
  EXPECT_EQ(length, frame.size() - kFrameHeaderBytes);
  StatusOr<Envelope> decoded = DecodeFrameBody(frame.substr(kFrameHeaderBytes));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->heartbeat().rank(), 3);
  EXPECT_EQ(decoded->heartbeat().step(), 12345);
}

TEST(FrameTest, LengthLimit) {
  EXPECT_TRUE(CheckFrameLength(100, 100).ok());
  Status too_big = CheckFrameLength(101, 100);
  EXPECT_EQ(too_big, InvalidArgumentError("message of 101 bytes exceeds the maximum of 100 bytes"));
}

TEST(FrameTest, MalformedBodies) {
  StatusOr<Envelope> garbage = DecodeFrameBody(std::string(5, '\xff'));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status(),
            InvalidArgumentError(
                "malformed message: 5 bytes that do not parse as a coordinator Envelope"));
  StatusOr<Envelope> empty = DecodeFrameBody("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status(),
            InvalidArgumentError("malformed message: an Envelope with no message set"));
  // Only an unknown field (number 99, varint): parses, but carries no message.
  StatusOr<Envelope> unknown = DecodeFrameBody(std::string("\x98\x06\x01", 3));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shardtrain::coordinator
