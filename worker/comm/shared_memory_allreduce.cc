// SharedMemoryAllReduce: shared-window buffers, a counter barrier in shared
// memory and the sliced push reduction. Thread-safety: see
// shared_memory_allreduce.h.
#include "worker/comm/shared_memory_allreduce.h"

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "worker/comm/mpi_runtime.h"

namespace shardtrain::comm {

// One rank's control block in the control window: the barrier counter and its
// futex word on their own cache line, the current call's descriptor and the
// pid on the next. Only the owning rank writes it, except `sleepers`, which a
// peer sets before it sleeps on the futex.
struct alignas(64) SharedMemoryAllReduce::ControlSlot {
  uint64_t counter;    // 2k-1: arrived at call k; 2k: done with call k
  uint32_t wake_word;  // the counter's low 32 bits: the futex peers sleep on
  uint32_t sleepers;   // set by a peer about to sleep on wake_word
  char pad0[48];
  int64_t buffer;    // index of the Allocate() call
  int64_t offset;    // bytes from the start of the rank's segment
  int64_t count;
  int64_t dtype;
  int64_t pid;
  char pad1[24];
};

namespace {

static_assert(sizeof(uint64_t) == 8 && std::atomic_ref<uint64_t>::is_always_lock_free,
              "the shared-memory barrier needs lock-free (address-free) 64-bit atomics");

constexpr int64_t kPageBytes = 4096;
// Open MPI may place a segment a few bytes past a page boundary: every window
// is over-allocated by this much and used from the next multiple of it (the
// same place for every rank: mappings of one segment share the page offset).
constexpr int64_t kAlignBytes = 64;
// Bytes of each chunk summed in an L1-resident temporary before being stored
// into every rank's segment.
constexpr int64_t kChunkBytes = 8192;
// Busy-wait iterations before a waiting rank starts yielding its core.
constexpr int kSpinsBeforeYield = 4000;
// Default of StreamingThreshold(): about the last-level cache of current
// server CPUs (sysconf's figure is unreliable under virtualization).
constexpr int64_t kDefaultStreamingBytes = int64_t{32} << 20;
constexpr auto kLivenessInterval = std::chrono::milliseconds(100);

char* AlignUp(void* p) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  const uintptr_t align = static_cast<uintptr_t>(kAlignBytes);
  return static_cast<char*>(p) + ((align - address % align) % align);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Sleeps while *word == expected (FUTEX_WAIT on a shared mapping: not
// FUTEX_PRIVATE), at most `timeout`; spurious returns are fine for callers.
void FutexWait(uint32_t* word, uint32_t expected, std::chrono::nanoseconds timeout) {
  const timespec relative{static_cast<time_t>(timeout.count() / 1000000000),
                          static_cast<long>(timeout.count() % 1000000000)};
  syscall(SYS_futex, word, FUTEX_WAIT, expected, &relative, nullptr, 0);
}

void FutexWakeAll(uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// True when the node's ranks outnumber the CPUs they may run on (the union of
// their affinity masks). Collective over `node_comm`; the same on every rank.
StatusOr<bool> RanksOutnumberCpus(MPI_Comm node_comm, int node_size) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) CPU_ZERO(&mask);
  cpu_set_t node_mask;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Allreduce(&mask, &node_mask, static_cast<int>(sizeof(mask)),
                                                 MPI_BYTE, MPI_BOR, node_comm),
                                   "MPI_Allreduce(affinity masks)"));
  const int cpus = CPU_COUNT(&node_mask);
  return cpus > 0 && node_size > cpus;
}

// A process with this pid exists (EPERM: exists, owned by someone else).
bool ProcessExists(int64_t pid) {
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Copies `bytes` bytes with non-temporal (cache-bypassing) stores where the
// CPU has them: for results that will not be read again before they would
// leave the cache anyway, this saves the read-for-ownership of every
// destination line. Callers must StoreFence() before publishing the data.
void StreamCopy(char* dst, const char* src, size_t bytes) {
#if defined(__SSE2__)
  const size_t head = std::min(bytes, (16 - reinterpret_cast<uintptr_t>(dst) % 16) % 16);
  std::memcpy(dst, src, head);
  dst += head;
  src += head;
  bytes -= head;
  for (; bytes >= 64; bytes -= 64, dst += 64, src += 64) {
    const __m128i* in = reinterpret_cast<const __m128i*>(src);
    __m128i* out = reinterpret_cast<__m128i*>(dst);
    const __m128i v0 = _mm_loadu_si128(in), v1 = _mm_loadu_si128(in + 1),
                  v2 = _mm_loadu_si128(in + 2), v3 = _mm_loadu_si128(in + 3);
    _mm_stream_si128(out, v0);
    _mm_stream_si128(out + 1, v1);
    _mm_stream_si128(out + 2, v2);
    _mm_stream_si128(out + 3, v3);
  }
#endif
  std::memcpy(dst, src, bytes);
}

// Orders earlier non-temporal stores before later stores (the barrier's).
inline void StoreFence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// For every chunk of [begin, end): sums in[p] over p in rank order into an
// L1-resident temporary, then stores transform(start, n, sum) into every
// rank's segment (in and out are the same pointers: each rank's segment).
// `streaming`: store the results with non-temporal stores.
template <typename T, typename Transform>
void ReduceSlice(T* const* segments, int size, int64_t begin, int64_t end, bool streaming,
                 const Transform& transform) {
  constexpr int64_t kChunk = kChunkBytes / static_cast<int64_t>(sizeof(T));
  alignas(64) T sum[kChunk];
  for (int64_t start = begin; start < end; start += kChunk) {
    const int64_t n = std::min(kChunk, end - start);
    const T* __restrict a = segments[0] + start;
    const T* __restrict b = segments[1] + start;
    for (int64_t i = 0; i < n; ++i) sum[i] = a[i] + b[i];
    for (int p = 2; p < size; ++p) {
      const T* __restrict x = segments[p] + start;
      for (int64_t i = 0; i < n; ++i) sum[i] += x[i];
    }
    const T* result = transform(start, n, static_cast<const T*>(sum));
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    for (int p = 0; p < size; ++p) {
      char* out = reinterpret_cast<char*>(segments[p] + start);
      if (streaming) {
        StreamCopy(out, reinterpret_cast<const char*>(result), bytes);
      } else {
        std::memcpy(out, result, bytes);
      }
    }
  }
  if (streaming) StoreFence();
}

// The sum itself, for a plain allreduce.
struct Identity {
  template <typename T>
  const T* operator()(int64_t, int64_t, const T* sum) const {
    return sum;
  }
};

template <typename T, typename Transform = Identity>
void ReduceRange(const std::vector<char*>& bases, int64_t offset, Slice slice, bool streaming,
                 const Transform& transform = Identity()) {
  std::vector<T*> segments;
  segments.reserve(bases.size());
  for (char* base : bases) segments.push_back(reinterpret_cast<T*>(base + offset));
  ReduceSlice(segments.data(), static_cast<int>(segments.size()), slice.begin, slice.end,
              streaming, transform);
}

// MPI_Win_allocate_shared of `bytes` per rank with separate, page-aligned
// segments (alloc_shared_noncontig): each rank's pages are its own, first
// touched by it (on its NUMA node).
Status AllocateShared(int64_t bytes, MPI_Comm comm, void* base, MPI_Win* win) {
  MPI_Info info = MPI_INFO_NULL;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Info_create(&info), "MPI_Info_create"));
  int rc = MPI_Info_set(info, "alloc_shared_noncontig", "true");
  if (rc == MPI_SUCCESS) {
    rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(bytes), 1, info, comm, base, win);
  }
  MPI_Info_free(&info);
  return MpiErrorToStatus(
      rc, "MPI_Win_allocate_shared(" + std::to_string(bytes) + " bytes per rank)");
}

// Working-set size (all ranks' copies of a reduced range) from which results
// are stored with non-temporal stores: the last-level cache size, or
// SHARDTRAIN_SHM_STREAMING_BYTES when set (for tuning).
int64_t StreamingThreshold() {
  if (const char* env = std::getenv("SHARDTRAIN_SHM_STREAMING_BYTES")) {
    char* end = nullptr;
    const long long value = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && value >= 0) return static_cast<int64_t>(value);
  }
  return kDefaultStreamingBytes;
}

std::string Describe(int64_t buffer, int64_t offset, int64_t count, int64_t dtype) {
  return "buffer " + std::to_string(buffer) + " offset " + std::to_string(offset) + " count " +
         std::to_string(count) + " " + std::string(DTypeName(static_cast<DType>(dtype)));
}

}  // namespace

StatusOr<std::unique_ptr<SharedMemoryAllReduce>> SharedMemoryAllReduce::Create(MPI_Comm comm) {
  int world_rank = 0, world_size = 1;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_rank(comm, &world_rank), "MPI_Comm_rank"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_size(comm, &world_size), "MPI_Comm_size"));
  MPI_Comm node_comm = MPI_COMM_NULL;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node_comm),
      "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)"));
  int node_size = 0, node_rank = 0;
  Status status = [&]() -> Status {
    RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_set_errhandler(node_comm, MPI_ERRORS_RETURN),
                                     "MPI_Comm_set_errhandler(node communicator)"));
    RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_size(node_comm, &node_size), "MPI_Comm_size(node)"));
    RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_rank(node_comm, &node_rank), "MPI_Comm_rank(node)"));
    return OkStatus();
  }();
  // Every rank must agree, even one whose setup failed: vote with MIN.
  const char* env = std::getenv("SHARDTRAIN_SHM_ALLREDUCE");
  const bool disabled = env != nullptr && std::string(env) == "0";
  int usable = status.ok() && !disabled && world_size >= 2 && node_size == world_size &&
                       node_rank == world_rank
                   ? 1
                   : 0;
  Status vote = MpiErrorToStatus(MPI_Allreduce(MPI_IN_PLACE, &usable, 1, MPI_INT, MPI_MIN, comm),
                                 "MPI_Allreduce(shared-memory allreduce vote)");
  if (!status.ok() || !vote.ok() || usable == 0) {
    if (node_comm != MPI_COMM_NULL) MPI_Comm_free(&node_comm);
    if (!status.ok()) return status.WithContext("setting up the shared-memory allreduce");
    if (!vote.ok()) return vote.WithContext("setting up the shared-memory allreduce");
    return std::unique_ptr<SharedMemoryAllReduce>();
  }
  // From here on the object owns (and its destructor frees) what exists.
  std::unique_ptr<SharedMemoryAllReduce> result(
      new SharedMemoryAllReduce(node_comm, node_rank, node_size));

  void* base = nullptr;
  RETURN_IF_ERROR(AllocateShared(static_cast<int64_t>(sizeof(ControlSlot)) + kAlignBytes,
                                 node_comm, &base,
                                 &result->control_win_)
                      .WithContext("allocating the control block"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Win_set_errhandler(result->control_win_, MPI_ERRORS_RETURN),
                                   "MPI_Win_set_errhandler(control block)"));
  for (int p = 0; p < node_size; ++p) {
    MPI_Aint size = 0;
    int disp_unit = 0;
    void* peer = nullptr;
    RETURN_IF_ERROR(MpiErrorToStatus(
        MPI_Win_shared_query(result->control_win_, p, &size, &disp_unit, &peer),
        "MPI_Win_shared_query(control block, rank " + std::to_string(p) + ")"));
    if (peer == nullptr ||
        size < static_cast<MPI_Aint>(sizeof(ControlSlot) + static_cast<size_t>(kAlignBytes))) {
      return InternalError("shared-memory allreduce: rank " + std::to_string(p) +
                           "'s control block is missing or short (" + std::to_string(size) +
                           " bytes)");
    }
    result->slots_.push_back(reinterpret_cast<ControlSlot*>(AlignUp(peer)));
  }
  ControlSlot* mine = result->slot(node_rank);
  std::memset(static_cast<void*>(mine), 0, sizeof(ControlSlot));
  mine->pid = static_cast<int64_t>(getpid());
  std::atomic_thread_fence(std::memory_order_seq_cst);
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Barrier(node_comm), "MPI_Barrier(node, control block)"));
  std::atomic_thread_fence(std::memory_order_seq_cst);
  result->streaming_bytes_ = StreamingThreshold();
  ASSIGN_OR_RETURN(result->oversubscribed_, RanksOutnumberCpus(node_comm, node_size));
  // Liveness checks only when every peer's pid names a live process here (not
  // so across pid namespaces).
  result->check_liveness_ = true;
  for (int p = 0; p < node_size; ++p) {
    result->pids_.push_back(result->slot(p)->pid);
    if (!ProcessExists(result->pids_.back())) result->check_liveness_ = false;
  }
  return result;
}

SharedMemoryAllReduce::~SharedMemoryAllReduce() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || broken_) return;  // MPI_Win_free would wait for a dead peer
  for (Buffer& buffer : buffers_) {
    if (buffer.win != MPI_WIN_NULL) MPI_Win_free(&buffer.win);
  }
  if (control_win_ != MPI_WIN_NULL) MPI_Win_free(&control_win_);
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
}

StatusOr<void*> SharedMemoryAllReduce::Allocate(int64_t bytes) {
  if (bytes <= 0) {
    return InvalidArgumentError("shared-memory allreduce: cannot allocate " +
                                std::to_string(bytes) + " bytes");
  }
  if (broken_) return UnavailableError("shared-memory allreduce: a peer rank died earlier");
  const int64_t segment =
      (bytes + kAlignBytes + kPageBytes - 1) / kPageBytes * kPageBytes;
  Buffer buffer;
  buffer.bytes = bytes;
  void* base = nullptr;
  RETURN_IF_ERROR(AllocateShared(segment, node_comm_, &base, &buffer.win));
  buffers_.push_back(buffer);  // owned (and freed) from here on
  Buffer& owned = buffers_.back();
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Win_set_errhandler(owned.win, MPI_ERRORS_RETURN),
                                   "MPI_Win_set_errhandler(gradient window)"));
  for (int p = 0; p < size_; ++p) {
    MPI_Aint size = 0;
    int disp_unit = 0;
    void* peer = nullptr;
    RETURN_IF_ERROR(MpiErrorToStatus(
        MPI_Win_shared_query(owned.win, p, &size, &disp_unit, &peer),
        "MPI_Win_shared_query(gradient window, rank " + std::to_string(p) + ")"));
    if (peer == nullptr || size < static_cast<MPI_Aint>(bytes + kAlignBytes)) {
      return InternalError("shared-memory allreduce: rank " + std::to_string(p) +
                           "'s segment is missing or shorter than " + std::to_string(bytes) +
                           " bytes");
    }
    owned.bases.push_back(AlignUp(peer));
  }
  if (owned.bases[static_cast<size_t>(rank_)] != AlignUp(base)) {
    return InternalError("shared-memory allreduce: MPI_Win_shared_query disagrees with "
                         "MPI_Win_allocate_shared about this rank's segment");
  }
  std::memset(base, 0, static_cast<size_t>(segment));
  return static_cast<void*>(owned.bases[static_cast<size_t>(rank_)]);
}

int64_t SharedMemoryAllReduce::FindBuffer(const void* data, int64_t bytes) const {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  if (bytes < 0) return -1;
  for (size_t b = 0; b < buffers_.size(); ++b) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(buffers_[b].bases[static_cast<size_t>(rank_)]);
    const uintptr_t limit = static_cast<uintptr_t>(buffers_[b].bytes);
    if (begin >= base && begin - base <= limit &&
        static_cast<uintptr_t>(bytes) <= limit - (begin - base)) {
      return static_cast<int64_t>(b);
    }
  }
  return -1;
}

bool SharedMemoryAllReduce::Contains(const void* data, int64_t bytes) const {
  return FindBuffer(data, bytes) >= 0;
}

Status SharedMemoryAllReduce::ArriveAndWait(uint64_t value) {
  ControlSlot* mine = slot(rank_);
  std::atomic_ref<uint64_t>(mine->counter).store(value, std::memory_order_seq_cst);
  std::atomic_ref<uint32_t>(mine->wake_word)
      .store(static_cast<uint32_t>(value), std::memory_order_seq_cst);
  std::atomic_ref<uint32_t> sleepers(mine->sleepers);
  if (sleepers.load(std::memory_order_seq_cst) != 0 &&
      sleepers.exchange(0, std::memory_order_seq_cst) != 0) {
    FutexWakeAll(&mine->wake_word);
  }
  for (int p = 0; p < size_; ++p) {
    if (p == rank_) continue;
    RETURN_IF_ERROR(WaitForPeer(p, value));
  }
  return OkStatus();
}

Status SharedMemoryAllReduce::WaitForPeer(int p, uint64_t value) {
  ControlSlot* peer = slot(p);
  std::atomic_ref<uint64_t> counter(peer->counter);
  // Oversubscribed, the peer we wait for usually needs our core to get
  // there: sleep at once.
  const int spin_limit = oversubscribed_ ? 0 : kSpinsBeforeYield;
  int spins = 0;
  auto last_check = std::chrono::steady_clock::now();
  while (counter.load(std::memory_order_acquire) < value) {
    if (spins < spin_limit) {
      ++spins;
      CpuRelax();
      continue;
    }
    if (oversubscribed_) {
      // Announce the sleep, then re-check: the owner publishes its counter
      // before it looks for sleepers (both seq_cst), so either it sees us
      // or we see its new counter; a wake_word already changed makes the
      // futex return at once.
      std::atomic_ref<uint32_t>(peer->sleepers).store(1, std::memory_order_seq_cst);
      const uint32_t seen =
          std::atomic_ref<uint32_t>(peer->wake_word).load(std::memory_order_seq_cst);
      if (counter.load(std::memory_order_seq_cst) >= value) break;
      FutexWait(&peer->wake_word, seen, kLivenessInterval);
    } else {
      sched_yield();
    }
    if (!check_liveness_) continue;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_check < kLivenessInterval) continue;
    last_check = now;
    if (!ProcessExists(pids_[static_cast<size_t>(p)])) {
      broken_ = true;
      return UnavailableError("shared-memory allreduce: rank " + std::to_string(p) + " (pid " +
                              std::to_string(pids_[static_cast<size_t>(p)]) +
                              ") exited while rank " + std::to_string(rank_) + " waited for it");
    }
  }
  return OkStatus();
}

Status SharedMemoryAllReduce::BeginCall(int64_t index, int64_t offset, int64_t count,
                                        DType dtype, Status* mismatch) {
  ++calls_;
  ControlSlot* mine = slot(rank_);
  mine->buffer = index;
  mine->offset = offset;
  mine->count = count;
  mine->dtype = static_cast<int64_t>(dtype);
  RETURN_IF_ERROR(ArriveAndWait(2 * calls_ - 1));
  for (int p = 0; p < size_; ++p) {
    const ControlSlot* peer = slot(p);
    if (peer->buffer != mine->buffer || peer->offset != mine->offset ||
        peer->count != mine->count || peer->dtype != mine->dtype) {
      *mismatch = InvalidArgumentError(
          "shared-memory allreduce: rank " + std::to_string(p) + " passed " +
          Describe(peer->buffer, peer->offset, peer->count, peer->dtype) + " but rank " +
          std::to_string(rank_) + " passed " +
          Describe(mine->buffer, mine->offset, mine->count, mine->dtype) +
          "; every rank must sum the same range of the same buffer");
      break;
    }
  }
  return OkStatus();
}

Status SharedMemoryAllReduce::AllReduceSum(void* data, int64_t count, DType dtype) {
  if (count == 0) return OkStatus();
  if (broken_) return UnavailableError("shared-memory allreduce: a peer rank died earlier");
  const int64_t element = static_cast<int64_t>(DTypeSize(dtype));
  const int64_t index = FindBuffer(data, count * element);
  if (index < 0) {
    return InvalidArgumentError("shared-memory allreduce: the buffer is not inside a window");
  }
  const Buffer& buffer = buffers_[static_cast<size_t>(index)];
  const int64_t offset = static_cast<const char*>(data) - buffer.bases[static_cast<size_t>(rank_)];
  Status mismatch = OkStatus();
  RETURN_IF_ERROR(BeginCall(index, offset, count, dtype, &mismatch));
  if (mismatch.ok()) {
    const Slice slice = OwnedSlice(count, element, rank_, size_);
    // Bypass the cache when all ranks' copies of the range exceed it.
    const bool streaming = count * element * size_ >= streaming_bytes_;
    switch (dtype) {
      case DType::kFloat32:
        ReduceRange<float>(buffer.bases, offset, slice, streaming);
        break;
      case DType::kFloat64:
        ReduceRange<double>(buffer.bases, offset, slice, streaming);
        break;
      case DType::kInt64:
        ReduceRange<int64_t>(buffer.bases, offset, slice, streaming);
        break;
      default:
        mismatch = InvalidArgumentError("shared-memory allreduce: unsupported dtype " +
                                        std::string(DTypeName(dtype)));
    }
  }
  // Also after a mismatch, so that no rank's next call can overwrite its
  // descriptor while a peer still compares it.
  RETURN_IF_ERROR(EndCall());
  return mismatch;
}

Status SharedMemoryAllReduce::ReduceAndUpdate(float* data, int64_t count,
                                              const ChunkUpdate& update) {
  if (count == 0) return OkStatus();
  if (broken_) return UnavailableError("shared-memory allreduce: a peer rank died earlier");
  const int64_t element = static_cast<int64_t>(sizeof(float));
  const int64_t index = count > 0 ? FindBuffer(data, count * element) : -1;
  if (index < 0) {
    return InvalidArgumentError("shared-memory reduce-and-update: the buffer is not inside a "
                                "window");
  }
  const Buffer& buffer = buffers_[static_cast<size_t>(index)];
  const int64_t offset = reinterpret_cast<const char*>(data) -
                         buffer.bases[static_cast<size_t>(rank_)];
  Status mismatch = OkStatus();
  RETURN_IF_ERROR(BeginCall(index, offset, count, DType::kFloat32, &mismatch));
  if (mismatch.ok()) {
    const bool streaming = count * element * size_ >= streaming_bytes_;
    ReduceRange<float>(buffer.bases, offset, OwnedSlice(count, element, rank_, size_), streaming,
                       update);
  }
  RETURN_IF_ERROR(EndCall());
  return mismatch;
}

const float* SharedMemoryAllReduce::PeerCopy(const float* mine, int64_t count, int peer) const {
  if (peer < 0 || peer >= size_) return nullptr;
  const int64_t index = FindBuffer(mine, count * static_cast<int64_t>(sizeof(float)));
  if (index < 0) return nullptr;
  const Buffer& buffer = buffers_[static_cast<size_t>(index)];
  const int64_t offset = reinterpret_cast<const char*>(mine) -
                         buffer.bases[static_cast<size_t>(rank_)];
  return reinterpret_cast<const float*>(buffer.bases[static_cast<size_t>(peer)] + offset);
}

}  // namespace shardtrain::comm
