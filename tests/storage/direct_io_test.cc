// Tests of the uncached (O_DIRECT) files behind FileSystem::NewUncached*:
// bytes and CRC-32C equal to the plain path for appends and reads of every
// size and alignment around the 4 KiB blocks and 2 MiB staging buffers, at end
// of file, after a Sync, on tmpfs (no O_DIRECT: the buffered fallback), with
// any number of reads in flight, and through the read loop's pread path (no
// io_uring); threads reading one file at once each get their own bytes.
#include "storage/io/direct_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/io/crc32c.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {
namespace {

namespace stdfs = std::filesystem;

std::string MakeDir(const std::string& parent) {
  std::string pattern = parent + "/direct_io_test.XXXXXX";
  return ::mkdtemp(pattern.data()) ? pattern : std::string();
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

constexpr size_t kMiB = size_t{1} << 20;

// Appends pieces of these sizes, crossing blocks and staging buffers.
const std::vector<size_t> kPieces = {1, 4095, 8 * kMiB + 3, 100, 17 * kMiB, 5, 4096, 0, 3 * kMiB};

// `bytes` written to `path` through the uncached writer, then opened for
// uncached reads; null (after a test failure) on any error.
std::unique_ptr<RandomAccessFile> WrittenUncachedFile(const std::string& path,
                                                      const std::string& bytes) {
  auto file = PosixFileSystem()->NewUncachedWritableFile(path);
  Status written = file.status();
  if (written.ok()) written = (*file)->Append(bytes);
  if (written.ok()) written = (*file)->Close();
  if (!written.ok()) {
    ADD_FAILURE() << written;
    return nullptr;
  }
  auto opened = PosixFileSystem()->NewUncachedRandomAccessFile(path);
  if (!opened.ok()) {
    ADD_FAILURE() << opened.status();
    return nullptr;
  }
  return *std::move(opened);
}

void CheckWriteThenRead(const std::string& dir, const UncachedReadOptions& options = {}) {
  FileSystem* fs = PosixFileSystem();
  const std::string path = dir + "/data";
  std::string expected;
  std::vector<uint32_t> piece_crcs;
  {
    auto file = fs->NewUncachedWritableFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    uint32_t seed = 1;
    for (size_t size : kPieces) {
      const std::string piece = RandomBytes(size, seed++);
      uint32_t crc = 0;
      ASSERT_TRUE((*file)->AppendWithCrc32c(piece, &crc).ok());
      EXPECT_EQ(crc, Crc32c(piece.data(), piece.size())) << "piece of " << size << " bytes";
      expected += piece;
    }
    ASSERT_TRUE((*file)->Sync().ok());
    // Appending after a Sync goes on at the end of the file.
    const std::string more = RandomBytes(5 * kMiB + 7, 99);
    ASSERT_TRUE((*file)->Append(more).ok());
    expected += more;
    ASSERT_TRUE((*file)->Close().ok());
  }
  auto whole = fs->ReadFile(path);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->size(), expected.size());
  EXPECT_TRUE(*whole == expected) << "file content differs from what was appended";

  auto file = fs->NewUncachedRandomAccessFile(path, options);
  ASSERT_TRUE(file.ok()) << file.status();
  const size_t size = expected.size();
  const std::vector<std::pair<uint64_t, size_t>> reads = {
      {0, kMiB},         {1, kMiB},          {4095, 8 * kMiB + 5}, {4096, 20 * kMiB},
      {8 * kMiB - 1, 3}, {size - kMiB, kMiB}, {size - 10, 2 * kMiB}, {size + 5, 2 * kMiB},
      {12345, size}};
  for (const auto& [offset, n] : reads) {
    std::vector<char> out(n, '\x7f');
    uint32_t crc = 0;
    auto got = (*file)->ReadWithCrc32c(offset, n, out.data(), &crc);
    ASSERT_TRUE(got.ok()) << got.status();
    const size_t want = offset >= size ? 0 : std::min(n, size - static_cast<size_t>(offset));
    ASSERT_EQ(*got, want) << "read of " << n << " at " << offset;
    EXPECT_EQ(0, std::memcmp(out.data(), expected.data() + std::min<uint64_t>(offset, size), want))
        << "read of " << n << " at " << offset;
    EXPECT_EQ(crc, Crc32c(expected.data() + std::min<uint64_t>(offset, size), want));
    std::vector<char> plain(n);
    auto plain_got = (*file)->Read(offset, n, plain.data());
    ASSERT_TRUE(plain_got.ok());
    EXPECT_EQ(*plain_got, want);
    EXPECT_EQ(0, std::memcmp(plain.data(), out.data(), want));
  }
}

TEST(DirectIo, WritesAndReadsEverySizeAndAlignment) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  CheckWriteThenRead(dir);
  stdfs::remove_all(dir);
}

// Any number of reads in flight reads the same bytes; counts outside 1..16
// are clamped.
TEST(DirectIo, ReadsRightWithAnyNumberInFlight) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  for (const size_t reads : {size_t{0}, size_t{1}, size_t{3}, size_t{100}}) {
    UncachedReadOptions options;
    options.reads_in_flight = reads;
    CheckWriteThenRead(dir, options);
  }
  stdfs::remove_all(dir);
}

TEST(DirectIo, FallsBackToBufferedWhereODirectIsRefused) {
  if (!stdfs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm (tmpfs) on this machine";
  const std::string dir = MakeDir("/dev/shm");
  ASSERT_FALSE(dir.empty());
  ASSERT_EQ(OpenDirectReadDescriptor(dir), -1) << "tmpfs unexpectedly accepts O_DIRECT";
  CheckWriteThenRead(dir);
  stdfs::remove_all(dir);
}

// The read loop's pread path (as where io_uring is refused) reads the same
// bytes, on a thread that read through its ring before too.
TEST(DirectIo, ReadsWithoutIoUringToo) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  UncachedReadOptions options;
  options.use_io_uring = false;
  CheckWriteThenRead(dir, options);
  CheckWriteThenRead(dir);
  CheckWriteThenRead(dir, options);
  stdfs::remove_all(dir);
}

// A failing read is the errno's Status naming the path on either path of the
// loop, and leaves no read behind in the ring.
TEST(DirectIo, ReadErrorsNameTheErrnoAndPath) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/data";
  ASSERT_NE(WrittenUncachedFile(path, RandomBytes(9 * kMiB + 5, 8)), nullptr);
  const int write_only = ::open(path.c_str(), O_WRONLY);  // every read fails with EBADF
  ASSERT_GE(write_only, 0);
  std::vector<char> out(9 * kMiB);
  for (const bool ring : {true, false}) {
    UncachedReadOptions options;
    options.use_io_uring = ring;
    auto got = DirectRead(write_only, path, 0, out.size(), out.data(), nullptr, options);
    EXPECT_EQ(got.status().code(), StatusCode::kUnknown) << got.status();  // EBADF's code
    EXPECT_NE(got.status().message().find(path), std::string::npos) << got.status();
  }
  ::close(write_only);
  auto file = PosixFileSystem()->NewUncachedRandomAccessFile(path);  // the thread reads on
  ASSERT_TRUE(file.ok()) << file.status();
  auto got = (*file)->Read(0, out.size(), out.data());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, out.size());
  stdfs::remove_all(dir);
}

// Each thread reuses its own staging chunks and ring across calls:
// threads reading one file at once, call after call, each get their bytes.
TEST(DirectIo, ConcurrentReadersFromSeveralThreadsGetTheirOwnBytes) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/data";
  const std::string expected = RandomBytes(24 * kMiB + 333, 5);
  const std::unique_ptr<RandomAccessFile> file = WrittenUncachedFile(path, expected);
  ASSERT_NE(file, nullptr);
  std::vector<int> mismatches(3, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 12; ++call) {
        const uint64_t offset = static_cast<uint64_t>((t * 5 + call * 3) % 11) * kMiB + t * 7;
        const size_t n = kMiB * static_cast<size_t>(1 + (call + t) % 9) + 13;
        std::vector<char> out(n);
        uint32_t crc = 0;
        auto got = file->ReadWithCrc32c(offset, n, out.data(), &crc);
        if (!got.ok() || *got != n || std::memcmp(out.data(), expected.data() + offset, n) != 0 ||
            crc != Crc32c(expected.data() + offset, n)) {
          ++mismatches[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(3, 0));
  stdfs::remove_all(dir);
}

TEST(DirectIo, ErrorsNameThePath) {
  auto file = PosixFileSystem()->NewUncachedWritableFile("/nonexistent-dir/x");
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/nonexistent-dir/x"), std::string::npos) << file.status();
}

TEST(DirectIo, MemoryFileSystemDefaultsChecksumToo) {
  MemoryFileSystem fs;
  const std::string data = RandomBytes(3 * kMiB, 7);
  auto file = fs.NewUncachedWritableFile("/f");
  ASSERT_TRUE(file.ok());
  uint32_t crc = 0;
  ASSERT_TRUE((*file)->AppendWithCrc32c(data, &crc).ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(crc, Crc32c(data.data(), data.size()));
  auto reader = fs.NewUncachedRandomAccessFile("/f");
  ASSERT_TRUE(reader.ok());
  std::string out(data.size(), '\0');
  uint32_t read_crc = 0;
  auto got = (*reader)->ReadWithCrc32c(0, out.size(), out.data(), &read_crc);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, data.size());
  EXPECT_EQ(read_crc, crc);
  EXPECT_EQ(out, data);
}

}  // namespace
}  // namespace shardtrain::storage
