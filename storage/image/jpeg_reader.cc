// ReadJpeg: libjpeg-turbo with an in-memory source. libjpeg reports errors
// through error_exit, which here longjmps to the setjmp in RunJpegDecode;
// every frame it can unwind (libjpeg's own, DecodeJpegRows) holds only
// trivially destructible objects, so no C++ destructor is skipped. Data that
// ends early is an error, not libjpeg's warning plus grey fill.
#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "storage/image/pixel_sink.h"

namespace shardtrain::storage::image_internal {
namespace {

// Everything the decode touches lives here, outside the frame that calls
// setjmp, so nothing it holds is indeterminate after the longjmp.
struct JpegJob {
  jpeg_error_mgr manager;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  jpeg_decompress_struct cinfo = {};  // zeroed: destroying it before creation is safe
  PixelSink* sink = nullptr;
  bool refused = false;      // the sink refused the image; sink->status says why
  bool unsupported = false;  // a colour space other than gray, RGB, YCbCr
  char error[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void OnJpegError(j_common_ptr cinfo) {
  auto* job = reinterpret_cast<JpegJob*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, job->error);
  std::longjmp(job->jump, 1);
}

// Warnings that mean the image is incomplete become errors; others, and trace
// messages, are dropped.
void OnJpegMessage(j_common_ptr cinfo, int level) {
  const int code = cinfo->err->msg_code;
  if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) OnJpegError(cinfo);
}

// Reads the header, asks the sink for the buffer and decodes every row into it.
void DecodeJpegRows(jpeg_decompress_struct* cinfo, JpegJob* job) {
  jpeg_read_header(cinfo, TRUE);
  if (cinfo->jpeg_color_space == JCS_GRAYSCALE) {
    cinfo->out_color_space = JCS_GRAYSCALE;
  } else if (cinfo->jpeg_color_space == JCS_YCbCr || cinfo->jpeg_color_space == JCS_RGB) {
    cinfo->out_color_space = JCS_RGB;
  } else {
    job->unsupported = true;
    return;
  }
  cinfo->dct_method = JDCT_IFAST;  // tf.io.decode_jpeg's default
  jpeg_calc_output_dimensions(cinfo);
  const ImageShape shape{cinfo->output_height, cinfo->output_width, cinfo->output_components};
  uint8_t* pixels = job->sink->Reserve(shape);
  if (pixels == nullptr) {
    job->refused = true;
    return;
  }
  jpeg_start_decompress(cinfo);
  const size_t row_bytes = static_cast<size_t>(shape.width * shape.channels);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = pixels + static_cast<size_t>(cinfo->output_scanline) * row_bytes;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
}

// False when libjpeg failed (job->error says why).
bool RunJpegDecode(const uint8_t* data, size_t size, JpegJob* job) {
  job->cinfo.err = jpeg_std_error(&job->manager);
  job->manager.error_exit = OnJpegError;
  job->manager.emit_message = OnJpegMessage;
  if (setjmp(job->jump)) {
    jpeg_destroy_decompress(&job->cinfo);
    return false;
  }
  jpeg_create_decompress(&job->cinfo);
  jpeg_mem_src(&job->cinfo, data, static_cast<unsigned long>(size));
  DecodeJpegRows(&job->cinfo, job);
  jpeg_destroy_decompress(&job->cinfo);
  return true;
}

}  // namespace

Status ReadJpeg(std::string_view bytes, PixelSink* sink) {
  JpegJob job;
  job.sink = sink;
  if (!RunJpegDecode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &job)) {
    return DataLossError("the JPEG image does not decode (" + std::string(job.error) + ", " +
                         std::to_string(bytes.size()) + " bytes)");
  }
  if (job.unsupported) {
    return InvalidArgumentError(
        "the JPEG image is CMYK, YCCK or of an unknown colour space; only grayscale and RGB "
        "(YCbCr) JPEGs are supported");
  }
  if (job.refused) return sink->status;
  return OkStatus();
}

}  // namespace shardtrain::storage::image_internal
