// DecodePng/DecodeJpeg and their *Into forms: the readers (png_reader.cc,
// jpeg_reader.cc) with a sink that either allocates the image or checks it
// against the expected shape and writes into the caller's buffer.
#include "storage/image/image_decode.h"

#include <algorithm>

#include "storage/image/pixel_sink.h"

namespace shardtrain::storage {
namespace {

using image_internal::PixelSink;

// Allocates the decoded image, refusing more than `max_pixels` pixels. The
// readers call Reserve right after the header, before libjpeg/libpng set up
// any buffer sized by the image.
class AllocatingSink : public PixelSink {
 public:
  AllocatingSink(const char* format, int64_t max_pixels, DecodedImage* image)
      : format_(format), max_pixels_(std::min(max_pixels, kMaxImagePixels)), image_(image) {}

  uint8_t* Reserve(const ImageShape& shape) override {
    if (shape.height * shape.width > max_pixels_) {
      status = ResourceExhaustedError(std::string("the ") + format_ + " image declares " +
                                      std::to_string(shape.height) + " x " +
                                      std::to_string(shape.width) + " pixels, more than the " +
                                      std::to_string(max_pixels_) + " allowed");
      return nullptr;
    }
    image_->shape = shape;
    image_->pixels.resize(static_cast<size_t>(shape.pixel_count()));
    return image_->pixels.data();
  }

 private:
  const char* format_;
  int64_t max_pixels_;
  DecodedImage* image_;
};

// Accepts only `expected`, decoding into the caller's buffer.
class FixedShapeSink : public PixelSink {
 public:
  FixedShapeSink(const char* format, const ImageShape& expected, uint8_t* pixels)
      : format_(format), expected_(expected), pixels_(pixels) {}

  uint8_t* Reserve(const ImageShape& shape) override {
    if (shape == expected_) return pixels_;
    status = InvalidArgumentError(std::string("the ") + format_ + " image is " + shape.ToString() +
                                  " (height, width, channels), expected " + expected_.ToString());
    return nullptr;
  }

 private:
  const char* format_;
  ImageShape expected_;
  uint8_t* pixels_;
};

StatusOr<DecodedImage> DecodeWith(Status (*read)(std::string_view, PixelSink*), const char* format,
                                  std::string_view bytes, int64_t max_pixels) {
  DecodedImage image;
  AllocatingSink sink(format, max_pixels, &image);
  RETURN_IF_ERROR(read(bytes, &sink));
  return image;
}

}  // namespace

std::string ImageShape::ToString() const {
  return "[" + std::to_string(height) + ", " + std::to_string(width) + ", " +
         std::to_string(channels) + "]";
}

StatusOr<DecodedImage> DecodePng(std::string_view bytes, int64_t max_pixels) {
  return DecodeWith(image_internal::ReadPng, "PNG", bytes, max_pixels);
}

StatusOr<DecodedImage> DecodeJpeg(std::string_view bytes, int64_t max_pixels) {
  return DecodeWith(image_internal::ReadJpeg, "JPEG", bytes, max_pixels);
}

Status DecodePngInto(std::string_view bytes, const ImageShape& expected, uint8_t* pixels) {
  FixedShapeSink sink("PNG", expected, pixels);
  return image_internal::ReadPng(bytes, &sink);
}

Status DecodeJpegInto(std::string_view bytes, const ImageShape& expected, uint8_t* pixels) {
  FixedShapeSink sink("JPEG", expected, pixels);
  return image_internal::ReadJpeg(bytes, &sink);
}

}  // namespace shardtrain::storage
