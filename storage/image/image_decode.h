// PNG and JPEG decoding to 8-bit pixels, height x width x channels, row-major
// (HWC), the layout tf.io.decode_png / tf.io.decode_jpeg return.
//
// Contract:
// - An image keeps its own channels: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA; no
//   colour conversion is applied. PNG: palette images become RGB, or RGBA when
//   the palette has transparency (tRNS); the tRNS colour key of a gray or RGB
//   image is ignored (no alpha channel is added); bit depths below 8 are
//   expanded to 0..255, 16-bit samples keep their high byte (as decode_png's
//   uint8 output, png_set_strip_16); gamma (gAMA) is not applied. JPEG:
//   grayscale stays 1 channel, YCbCr becomes RGB with libjpeg's integer
//   "fast" IDCT and fancy upsampling, decode_jpeg's defaults; CMYK/YCCK
//   JPEGs are rejected (InvalidArgument).
// - DecodePng/DecodeJpeg return the image, refusing one whose header declares
//   more than `max_pixels` pixels (height * width, capped at kMaxImagePixels)
//   before anything is allocated, neither the image nor libjpeg's whole-image
//   buffers: a few hundred bytes may declare 2^28 pixels (768 MiB of RGB).
//   Callers decoding outside input pass the most they expect.
// - The *Into forms decode an image that must have `expected` shape straight
//   into the caller's buffer of expected.pixel_count() bytes, checking the
//   shape from the header before any pixel is decoded or buffer allocated.
// Errors (messages say what is wrong, not where the bytes came from):
//   DataLoss           corrupt or truncated data (libpng/libjpeg's reason);
//   InvalidArgument    (*Into) a shape other than `expected` ("the PNG image
//                      is [28, 28, 3] (height, width, channels), expected
//                      [28, 28, 1]"); an unsupported JPEG colour space;
//   ResourceExhausted  (DecodePng/DecodeJpeg) more than max_pixels pixels
//                      declared, checked before anything is allocated.
// libpng/libjpeg errors are caught with setjmp/longjmp in frames that hold no
// C++ objects; nothing aborts or exits. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage {

// The most pixels (height * width) DecodePng/DecodeJpeg ever accept: 2^28.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

struct ImageShape {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;

  // Bytes of the HWC uint8 pixels.
  int64_t pixel_count() const { return height * width * channels; }
  // "[28, 28, 1]".
  std::string ToString() const;
  friend bool operator==(const ImageShape&, const ImageShape&) = default;
};

struct DecodedImage {
  ImageShape shape;
  std::vector<uint8_t> pixels;  // shape.pixel_count() bytes, HWC
};

StatusOr<DecodedImage> DecodePng(std::string_view bytes, int64_t max_pixels = kMaxImagePixels);
StatusOr<DecodedImage> DecodeJpeg(std::string_view bytes, int64_t max_pixels = kMaxImagePixels);

Status DecodePngInto(std::string_view bytes, const ImageShape& expected, uint8_t* pixels);
Status DecodeJpegInto(std::string_view bytes, const ImageShape& expected, uint8_t* pixels);

}  // namespace shardtrain::storage
