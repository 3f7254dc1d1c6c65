// Page-cache-bypassing (O_DIRECT) I/O for checkpoint data files, written once
// and read back once: through the page cache they move at a fraction of the
// disk's speed (docs/notes/checkpoint-io.md). The writer
// fills one 2 MiB staging buffer while a thread writes the other; its file
// ends at the last appended byte. Thread-safety: as in file_system.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

// Writes all of [data, data + n) at `fd`'s position, retrying EINTR and short
// writes; 0, or the errno of the failing write().
int WriteFully(int fd, const char* data, size_t n);

// Opens `path` for writing with O_DIRECT (created or truncated): nullptr when
// the file system refuses O_DIRECT (tmpfs), for the caller to write buffered.
StatusOr<std::unique_ptr<WritableFile>> OpenDirectWritableFile(const std::string& path);

// Opens `path` read-only with O_DIRECT; -1 when unsupported or on any error.
int OpenDirectReadDescriptor(const std::string& path);

// Reads [offset, offset + n) of the O_DIRECT `fd` into `out` in aligned 2 MiB
// chunks, extending `*crc` (CRC-32C, when not null) over the bytes returned.
// One loop keeps options.reads_in_flight chunks in the calling thread's
// io_uring, or reads them one by one with pread (no io_uring, or options say
// so). Returns the bytes read (fewer only at end of file), or InvalidArgument
// when the kernel refuses O_DIRECT (read buffered then); other errors name
// `path`. Each thread keeps its ring and staging buffers until it exits.
StatusOr<size_t> DirectRead(int fd, const std::string& path, uint64_t offset, size_t n, char* out,
                            uint32_t* crc, const UncachedReadOptions& options);

}  // namespace shardtrain::storage
