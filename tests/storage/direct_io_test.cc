// Tests of the uncached (O_DIRECT) files behind FileSystem::NewUncached*:
// bytes and CRC-32C equal to the plain path for appends and reads of every
// size and alignment around the 4 KiB blocks and 2 MiB staging buffers, at end
// of file, after a Sync, on tmpfs (no O_DIRECT: the buffered fallback) and
// without io_uring (chunks read one by one); idle work runs only while a
// ring read waits; any number of reads in flight reads the same bytes;
// staging buffers of whole huge pages are huge-page aligned.
#include "storage/io/direct_io.h"

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
#include "storage/io/staging_buffer.h"

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

void CheckWriteThenRead(const std::string& dir) {
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

  auto file = fs->NewUncachedRandomAccessFile(path);
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

TEST(DirectIo, ReadsRightWithAnyNumberInFlight) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  for (const size_t reads : {size_t{1}, size_t{3}}) {
    const DirectReadsInFlight fewer(reads);
    CheckWriteThenRead(dir);
  }
  stdfs::remove_all(dir);
}

TEST(DirectIo, ReadsInFlightNestAndAreClamped) {
  EXPECT_EQ(DirectReadsInFlight::OfThisThread(), kMaxDirectReadsInFlight);
  {
    const DirectReadsInFlight three(3);
    EXPECT_EQ(DirectReadsInFlight::OfThisThread(), 3u);
    {
      const DirectReadsInFlight none(0);
      EXPECT_EQ(DirectReadsInFlight::OfThisThread(), 1u);
      const DirectReadsInFlight many(100);
      EXPECT_EQ(DirectReadsInFlight::OfThisThread(), kMaxDirectReadsInFlight);
    }
    EXPECT_EQ(DirectReadsInFlight::OfThisThread(), 3u);
  }
  EXPECT_EQ(DirectReadsInFlight::OfThisThread(), kMaxDirectReadsInFlight);
}

TEST(DirectIo, StagingBuffersOfWholeHugePagesAreHugePageAligned) {
  for (const size_t bytes : {kHugePageBytes, 4 * kHugePageBytes}) {
    AlignedBuffer buffer = AllocateAligned(bytes);
    ASSERT_NE(buffer, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.get()) % kHugePageBytes, 0u) << bytes;
    std::memset(buffer.get(), 0x5a, bytes);  // every byte is ours
    EXPECT_EQ(buffer.get()[bytes - 1], 0x5a);
  }
  AlignedBuffer small = AllocateAligned(3 * kDirectIoAlignment);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.get()) % kDirectIoAlignment, 0u);
}

TEST(DirectIo, FallsBackToBufferedWhereODirectIsRefused) {
  if (!stdfs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm (tmpfs) on this machine";
  const std::string dir = MakeDir("/dev/shm");
  ASSERT_FALSE(dir.empty());
  ASSERT_EQ(OpenDirectReadDescriptor(dir), -1) << "tmpfs unexpectedly accepts O_DIRECT";
  CheckWriteThenRead(dir);
  stdfs::remove_all(dir);
}

// Without io_uring (SHARDTRAIN_NO_IO_URING, read by each thread at its first
// direct read) the same bytes come back, chunk by chunk.
TEST(DirectIo, ReadsWithoutIoUringToo) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  ::setenv("SHARDTRAIN_NO_IO_URING", "1", 1);
  std::thread([&] { CheckWriteThenRead(dir); }).join();
  ::unsetenv("SHARDTRAIN_NO_IO_URING");
  stdfs::remove_all(dir);
}

// Idle work runs while a read waits, and not again once it said it is done;
// nested objects run the innermost work, and the outer one again after it.
TEST(DirectIo, IdleWorkRunsUntilItIsDone) {
  const std::string dir = MakeDir(stdfs::temp_directory_path().string());
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/data";
  const std::string expected = RandomBytes(24 * kMiB + 333, 6);
  const std::unique_ptr<RandomAccessFile> file = WrittenUncachedFile(path, expected);
  ASSERT_NE(file, nullptr);
  std::vector<char> out(expected.size());

  int outer_calls = 0, inner_calls = 0;
  DirectReadIdleWork outer([&] { return ++outer_calls < 1000000; });
  {
    DirectReadIdleWork inner([&] {
      ++inner_calls;
      return false;  // done at once
    });
    ASSERT_EQ((*DirectReadIdleWork::OfThisThread())(), false);
    inner_calls = 0;
    for (int call = 0; call < 3; ++call) {
      auto got = file->Read(0, out.size(), out.data());
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(std::string(out.data(), *got), expected);
    }
    EXPECT_LE(inner_calls, 3) << "idle work ran again after it returned false";
    EXPECT_EQ(outer_calls, 0);
  }
  ASSERT_NE(DirectReadIdleWork::OfThisThread(), nullptr);
  EXPECT_EQ((*DirectReadIdleWork::OfThisThread())(), true);
  EXPECT_EQ(outer_calls, 1);
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
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("/nonexistent-dir/x"), std::string::npos)
      << file.status();
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
