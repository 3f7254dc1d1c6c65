// Stream planner: which shards of the training files each rank streams in an
// epoch, as a pure function of the job, the epoch, the world size and the
// sessions of the epoch already trained (a resumed job). The coordinator
// answers StreamPlanRequest with it (proto/coordinator.proto).
//
// Shards: each file is cut into record ranges of job.shard_records records
// (the last shorter) when it is indexed (uncompressed), else it is one shard.
// Only the first file_records[f] records of a file are used.
//
// A fresh epoch (no stages): with job.shuffle the shards are put in a Philox
// permutation keyed by (seed, epoch); then they are dealt in that order, each
// to the rank whose stream holds the fewest examples so far (ties: the lowest
// rank), which keeps ranks within one shard of each other. Without shuffle the
// shards are dealt in file order as contiguous blocks (rank 0 the first
// ~1/N of the examples, and so on). Every rank needs a row of each global
// batch: a world size above job.global_batch is refused.
//
// Rank r reads its shards in order through a shuffle buffer of
// job.shuffle_buffer slots (1 without shuffle): common/stream_order.h's
// ShuffleOrder keyed by (seed, StreamShuffleKey(epoch, stage, r)) over the
// concatenated records of its shards; step rows are StreamStepRows.
//
// Resume (stages non-empty): if the last stage ran on `world_size` ranks, the
// epoch continues that stage's streams: the same shards, skip_steps = its
// steps. Otherwise what no stage trained on — for each stage and rank, the
// records its stream had not emitted after the stage's steps (still in the
// shuffle buffer, or not yet read) — is cut into maximal record ranges per
// file (file order, then record order), those of splittable files cut again at
// the shard boundaries (multiples of shard_records, so no piece outgrows a
// shard), and dealt as a fresh epoch's shards would be (the permutation keyed
// by the stage too), except that the pieces of one unsplittable (compressed)
// file go to one rank together, forming stage stages.size(); each rank of such
// a leftover stage reads its pieces in (file, record) order, so each
// compressed file is read once, front to back. Stage i's streams are
// PlanStreams(job, epoch, stages[0..i), stages[i].world_size), so consecutive
// stages have different world sizes (a resume on the same world size continues
// the last stage: the caller updates its steps instead of appending one).
// An epoch has at most 4096 stages (the stage bits of StreamShuffleKey).
// A world_size-0 stage may only be the first: the in-memory planner's, whose
// first steps * global_batch examples of
// EpochExampleOrder(seed, epoch, file_records, shuffle) were trained, with
// file_records' trailing 0s dropped as the in-memory loader's shard sizes
// stop at the last file used (ids numbered file by file; O(examples) memory,
// for old checkpoints). So every
// example of the epoch is trained on exactly once, whatever the world sizes.
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/stream_order.h"

namespace shardtrain::coordinator {

struct StreamJob {
  uint64_t seed = 0;
  bool shuffle = true;
  int64_t global_batch = 0;
  int64_t shuffle_buffer = 1;         // slots per rank (>= 1; 1 without shuffle)
  int64_t shard_records = 1024;       // records per range of a splittable file
  std::vector<int64_t> file_records;  // records used of each file
  std::vector<bool> splittable;       // per file: may be cut into ranges (indexed;
                                      // files past its size: no)
};

struct RankStream {
  std::vector<shardtrain::RecordRange> ranges;  // in reading order
  int64_t examples = 0;                         // their records
};

struct StageStreams {
  int32_t stage = 0;       // index of the stage these streams form
  int64_t skip_steps = 0;  // steps of them already trained
  std::vector<RankStream> ranks;
  // Examples of every rank's stream (ranks[r].examples), for StreamStepRows.
  std::vector<int64_t> RankExamples() const;
};

// The shards of the job's files, in file order.
std::vector<shardtrain::RecordRange> JobShards(const StreamJob& job);

// The streams of 0-based `epoch` for `world_size` ranks after `stages`.
// InvalidArgument for a world size < 1 or above the global batch, a global
// batch < 1, a negative file_records, or stages that do not fit the job (more
// steps than a stage's streams have, a world size-0 stage past the epoch or not
// first, negative steps, a negative world size or one above the global batch,
// two consecutive stages of one world size, more than 4096 stages with the one
// planned).
StatusOr<StageStreams> PlanStreams(const StreamJob& job, int64_t epoch,
                                   const std::vector<shardtrain::DataStage>& stages,
                                   int world_size);

// The records (file, record) rank `rank` of stage `stage` emits, in emission
// order: what its reader trains on. For tests and tools; O(examples).
std::vector<shardtrain::RecordId> EmissionOrder(const StreamJob& job, int64_t epoch, int32_t stage,
                                                const RankStream& stream, int rank);

}  // namespace shardtrain::coordinator
