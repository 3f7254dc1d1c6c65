// ReadPng: libpng's classic API with an in-memory source. libpng reports
// errors by longjmp to the setjmp in RunPngDecode; every frame it can unwind
// (libpng's own, ReadPngBytes, DecodePngRows) holds only trivially
// destructible objects, so no C++ destructor is skipped.
#include <png.h>

#include <cstdio>
#include <cstring>

#include "storage/image/pixel_sink.h"

namespace shardtrain::storage::image_internal {
namespace {

struct PngJob {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
  PixelSink* sink = nullptr;
  bool refused = false;  // the sink refused the image; sink->status says why
  char error[256] = {};  // libpng's message when decoding failed
};

void OnPngError(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->error, sizeof(job->error), "%s", message);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

void ReadPngBytes(png_structp png, png_bytep out, size_t length) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (length > job->size - job->offset) png_error(png, "the data ends early (truncated)");
  std::memcpy(out, job->data + job->offset, length);
  job->offset += length;
}

// 8-bit samples in the image's own channels: palettes expanded to RGB (RGBA
// with a tRNS chunk), low bit depths expanded, 16-bit samples cut to their
// high byte; a gray or RGB image's tRNS colour key is ignored.
void SetPngTransforms(png_structp png, png_infop info) {
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  }
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_strip_16(png);
}

// Reads the header, asks the sink for the buffer and decodes every row into it.
void DecodePngRows(png_structp png, png_infop info, PngJob* job) {
  png_read_info(png, info);
  SetPngTransforms(png, info);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const ImageShape shape{png_get_image_height(png, info), png_get_image_width(png, info),
                         png_get_channels(png, info)};
  const size_t row_bytes = static_cast<size_t>(shape.width * shape.channels);
  if (png_get_rowbytes(png, info) != row_bytes) png_error(png, "unexpected row size");
  uint8_t* pixels = job->sink->Reserve(shape);
  if (pixels == nullptr) {
    job->refused = true;
    return;
  }
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t y = 0; y < shape.height; ++y) {
      png_read_row(png, pixels + static_cast<size_t>(y) * row_bytes, nullptr);
    }
  }
  png_read_end(png, nullptr);  // checks the rest of the stream (CRCs, IEND)
}

// False when libpng failed (job->error says why).
bool RunPngDecode(PngJob* job) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, OnPngError, OnPngWarning);
  if (png == nullptr) {
    std::snprintf(job->error, sizeof(job->error), "libpng could not allocate its decoder");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(job->error, sizeof(job->error), "libpng could not allocate its decoder");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, job, ReadPngBytes);
  DecodePngRows(png, info, job);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

Status ReadPng(std::string_view bytes, PixelSink* sink) {
  PngJob job;
  job.data = reinterpret_cast<const uint8_t*>(bytes.data());
  job.size = bytes.size();
  job.sink = sink;
  if (!RunPngDecode(&job)) {
    return DataLossError("the PNG image does not decode (" + std::string(job.error) + ", " +
                         std::to_string(bytes.size()) + " bytes)");
  }
  if (job.refused) return sink->status;
  return OkStatus();
}

}  // namespace shardtrain::storage::image_internal
