// Aligned staging buffers shared by the O_DIRECT writer (direct_io.cc) and
// reader (direct_read.cc): allocation, block rounding, and the copy that takes
// a CRC-32C on the way. Internal to storage/io.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "storage/io/crc32c.h"
#include "storage/io/direct_io.h"

namespace shardtrain::storage {

// Each write staging buffer (two) and each read chunk. Smaller pieces overlap
// the copy with the I/O more finely: restoring a 1.1 GB checkpoint took
// 0.53-0.64 s with 2 MiB reads against 0.61-0.99 s with 8 MiB and 1.0-1.5 s
// with 32 MiB, saving it 1.66-2.02 s against 1.78-2.57 s with 8 MiB
// (alternating runs on the VM of docs/BENCHMARKS.md).
inline constexpr size_t kStagingBytes = size_t{2} << 20;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, FreeDeleter>;

// Transparent huge page size on x86-64 and the usual arm64 configuration.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// A kDirectIoAlignment-aligned buffer of `bytes` (a multiple of it), or null.
// Whole multiples of kHugePageBytes are huge-page aligned and asked to be
// backed by transparent huge pages (madvise; ignored where THP is off), then
// touched so they are: a 2 MiB direct read into one huge page reaches the
// disk as one physically contiguous segment instead of up to 512 scattered
// pages. On the VM of docs/BENCHMARKS.md, reads through scattered pages fell
// into a slow mode in 5 of 16 cold reads of a 1.1 GB file (1.04-1.29 s
// against 0.43-0.59 s), through huge pages in none of 16 (0.39-0.78 s).
inline AlignedBuffer AllocateAligned(size_t bytes) {
  if (bytes % kHugePageBytes != 0) {
    return AlignedBuffer(static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, bytes)));
  }
  AlignedBuffer buffer(static_cast<char*>(std::aligned_alloc(kHugePageBytes, bytes)));
  if (buffer != nullptr && madvise(buffer.get(), bytes, MADV_HUGEPAGE) == 0) {
    std::memset(buffer.get(), 0, bytes);
  }
  return buffer;
}

// `n` rounded up to a whole number of kDirectIoAlignment blocks.
inline size_t RoundUpToBlock(uint64_t n) {
  return static_cast<size_t>((n + kDirectIoAlignment - 1) / kDirectIoAlignment *
                             kDirectIoAlignment);
}

// Copies `n` bytes and extends `*crc` (when not null) over them, in L2-sized
// pieces so the copy reads what the checksum just brought into cache and each
// byte crosses memory once.
inline void CopyWithCrc(char* to, const char* from, size_t n, uint32_t* crc) {
  constexpr size_t kPieceBytes = size_t{256} << 10;
  for (size_t done = 0; done < n; done += kPieceBytes) {
    const size_t piece = std::min(kPieceBytes, n - done);
    if (crc != nullptr) *crc = Crc32cExtend(*crc, from + done, piece);
    std::memcpy(to + done, from + done, piece);
  }
}

}  // namespace shardtrain::storage
