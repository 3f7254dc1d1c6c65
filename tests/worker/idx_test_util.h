// Test helpers for worker/data tests: a temporary directory and writers of
// small (optionally gzip-compressed) idx files with known contents.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace shardtrain::data::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "shardtrain_data_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void AppendBigEndian32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// Writes `bytes` to `path`, gzip-compressed when `gzip` is true.
inline void WriteFile(const std::string& path, const std::string& bytes, bool gzip = true) {
  if (gzip) {
    gzFile file = ::gzopen(path.c_str(), "wb");
    if (file == nullptr) return;
    ::gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    ::gzclose(file);
  } else {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

inline std::string IdxImagesBytes(uint32_t count, uint32_t rows, uint32_t cols,
                                  const std::vector<uint8_t>& pixels, uint32_t magic = 0x803) {
  std::string out;
  AppendBigEndian32(magic, &out);
  AppendBigEndian32(count, &out);
  AppendBigEndian32(rows, &out);
  AppendBigEndian32(cols, &out);
  out.append(pixels.begin(), pixels.end());
  return out;
}

inline std::string IdxLabelsBytes(const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
  std::string out;
  AppendBigEndian32(magic, &out);
  AppendBigEndian32(static_cast<uint32_t>(labels.size()), &out);
  out.append(labels.begin(), labels.end());
  return out;
}

// Pixel (r, c) of synthetic image i: a value that differs between images,
// rows and columns, so any misplaced byte is caught.
inline uint8_t SyntheticPixel(int64_t i, int64_t r, int64_t c) {
  return static_cast<uint8_t>((i * 37 + r * 28 + c * 3 + 1) & 0xFF);
}

inline std::vector<uint8_t> SyntheticPixels(int64_t count, int64_t rows = 28, int64_t cols = 28) {
  std::vector<uint8_t> pixels;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) pixels.push_back(SyntheticPixel(i, r, c));
  return pixels;
}

// Labels of synthetic example i (every class in 0..9 appears).
inline uint8_t SyntheticLabel(int64_t i) { return static_cast<uint8_t>((i * 3 + 1) % 10); }

// Writes a Fashion-MNIST-style source directory with `train` and `test` examples.
inline void WriteSyntheticFashionMnist(const std::string& dir, int64_t train, int64_t test) {
  for (const auto& [prefix, count] : {std::pair<std::string, int64_t>{"train", train},
                                      std::pair<std::string, int64_t>{"t10k", test}}) {
    std::vector<uint8_t> labels;
    for (int64_t i = 0; i < count; ++i) labels.push_back(SyntheticLabel(i));
    WriteFile(dir + "/" + prefix + "-images-idx3-ubyte.gz",
              IdxImagesBytes(static_cast<uint32_t>(count), 28, 28, SyntheticPixels(count)));
    WriteFile(dir + "/" + prefix + "-labels-idx1-ubyte.gz", IdxLabelsBytes(labels));
  }
}

}  // namespace shardtrain::data::testing
