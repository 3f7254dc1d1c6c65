// Aligned staging buffers shared by the O_DIRECT writer (direct_io.cc) and
// reader (direct_read.cc): allocation, block rounding, and the copy that takes
// a CRC-32C on the way. Internal to storage/io.
#pragma once

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

// A kDirectIoAlignment-aligned buffer of `bytes` (a multiple of it), or null.
inline AlignedBuffer AllocateAligned(size_t bytes) {
  return AlignedBuffer(static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, bytes)));
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
