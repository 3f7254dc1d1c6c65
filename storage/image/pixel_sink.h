// Internal to storage/image: where the PNG and JPEG readers put the pixels,
// and the readers themselves.
//
// Contract: a reader parses the header, asks the sink for a buffer of
// shape.pixel_count() bytes for the shape it will produce, then fills it
// row by row. A sink refuses an image by returning null and setting `status`;
// the reader then stops and returns that status. Readers return DataLoss for
// data libpng/libjpeg cannot decode.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "storage/image/image_decode.h"

namespace shardtrain::storage::image_internal {

class PixelSink {
 public:
  virtual ~PixelSink() = default;
  // The buffer for an image of `shape`, or null (with `status` set) to refuse it.
  virtual uint8_t* Reserve(const ImageShape& shape) = 0;

  Status status;
};

Status ReadPng(std::string_view bytes, PixelSink* sink);
Status ReadJpeg(std::string_view bytes, PixelSink* sink);

}  // namespace shardtrain::storage::image_internal
