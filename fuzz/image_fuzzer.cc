// Fuzzes the PNG and JPEG decoders (storage/image): the input is decoded as a
// PNG and as a JPEG. A decoded image must be consistent (positive height and
// width, 1-4 channels, h*w*c pixel bytes, within the limit); decoding
// it again into a caller buffer of its own shape must give the same pixels,
// and into a buffer of another shape must be refused (InvalidArgument) before
// any pixel is written. Traps otherwise.
// Images are decoded with a limit of kFuzzMaxPixels (DecodePng/DecodeJpeg's
// max_pixels, checked from the header before anything is allocated): a few
// hundred bytes declaring 2^28 pixels would otherwise spend seconds per input
// allocating and clearing up to 1 GiB before the short data fails, which
// tells the fuzzer nothing new.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "storage/image/image_decode.h"

namespace st = shardtrain::storage;

namespace {

constexpr int64_t kFuzzMaxPixels = int64_t{1} << 22;

using DecodeFn = shardtrain::StatusOr<st::DecodedImage> (*)(std::string_view, int64_t);
using DecodeIntoFn = shardtrain::Status (*)(std::string_view, const st::ImageShape&, uint8_t*);

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void FuzzOne(std::string_view bytes, DecodeFn decode, DecodeIntoFn decode_into) {
  auto image = decode(bytes, kFuzzMaxPixels);
  if (!image.ok()) return;
  const st::ImageShape& shape = image->shape;
  Check(shape.height > 0 && shape.width > 0 && shape.channels >= 1 && shape.channels <= 4);
  Check(shape.height * shape.width <= kFuzzMaxPixels);
  Check(image->pixels.size() == static_cast<size_t>(shape.pixel_count()));

  std::vector<uint8_t> again(image->pixels.size());
  Check(decode_into(bytes, shape, again.data()).ok());
  Check(again == image->pixels);

  st::ImageShape other = shape;
  other.channels = shape.channels == 1 ? 3 : 1;
  std::vector<uint8_t> untouched(static_cast<size_t>(other.pixel_count()), 0xA5);
  const auto refused = decode_into(bytes, other, untouched.data());
  Check(refused.code() == shardtrain::StatusCode::kInvalidArgument);
  for (uint8_t byte : untouched) Check(byte == 0xA5);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  FuzzOne(bytes, st::DecodePng, st::DecodePngInto);
  FuzzOne(bytes, st::DecodeJpeg, st::DecodeJpegInto);
  return 0;
}
