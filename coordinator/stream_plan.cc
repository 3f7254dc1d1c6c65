// Stream planner (coordinator/stream_plan.h): shards dealt to ranks, and the
// leftover of interrupted stages recomputed by replaying each rank's shuffle
// buffer. Memory per stage is O(shards + world_size * shuffle_buffer), except
// a world_size-0 stage (the in-memory planner's order is O(examples)) and
// EmissionOrder.
#include "coordinator/stream_plan.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <string>
#include <utility>

#include "common/philox.h"
#include "coordinator/shard_planner.h"

namespace shardtrain::coordinator {
namespace {

// Philox stream of the shard order, XORed with the stage index; the epoch is
// the Philox step. Distinct from shard_planner.cc's and stream_order.cc's.
constexpr uint32_t kStreamShardOrderStream = 0x5354534Fu;  // "STSO"

bool Splittable(const StreamJob& job, int32_t file) {
  const size_t f = static_cast<size_t>(file);
  return job.shard_records > 0 && f < job.splittable.size() && job.splittable[f];
}

// Fisher–Yates over `pieces` with Philox(seed, step=epoch, stream) bits;
// Lemire's multiply-shift maps 32 bits onto [0, i].
void ShufflePieces(std::vector<RecordRange>* pieces, const StreamJob& job, int64_t epoch,
                   int32_t stage) {
  const uint32_t stream = kStreamShardOrderStream ^ static_cast<uint32_t>(stage);
  for (int64_t i = static_cast<int64_t>(pieces->size()) - 1; i > 0; --i) {
    const uint32_t bits =
        PhiloxBits(job.seed, static_cast<uint64_t>(epoch), stream, static_cast<uint64_t>(i));
    const int64_t j =
        static_cast<int64_t>((static_cast<uint64_t>(bits) * static_cast<uint64_t>(i + 1)) >> 32);
    std::swap((*pieces)[static_cast<size_t>(i)], (*pieces)[static_cast<size_t>(j)]);
  }
}

void AddPiece(RankStream* stream, const RecordRange& piece) {
  stream->ranges.push_back(piece);
  stream->examples += piece.num_records;
}

// Each piece, in order, to the active rank holding the fewest examples so far
// (ties: the lowest rank): ranks end within one piece's size of each other.
void DealGreedy(const std::vector<RecordRange>& pieces, int active,
                std::vector<RankStream>* ranks) {
  using Load = std::pair<int64_t, int>;  // (examples, rank)
  std::priority_queue<Load, std::vector<Load>, std::greater<Load>> loads;
  for (int r = 0; r < active; ++r) loads.push({0, r});
  for (const RecordRange& piece : pieces) {
    Load least = loads.top();
    loads.pop();
    AddPiece(&(*ranks)[static_cast<size_t>(least.second)], piece);
    loads.push({least.first + piece.num_records, least.second});
  }
}

// The pieces in order as contiguous blocks: active rank k's block ends at the
// piece boundary nearest to (k + 1) / active of the examples.
void DealContiguous(const std::vector<RecordRange>& pieces, int active,
                    std::vector<RankStream>* ranks) {
  int64_t total = 0;
  for (const RecordRange& piece : pieces) total += piece.num_records;
  int64_t before = 0;  // examples of the pieces dealt so far
  size_t next = 0;
  for (int k = 0; k < active; ++k) {
    // (k + 1) * total / active without overflow.
    const int64_t target = (total / active) * (k + 1) + (total % active) * (k + 1) / active;
    while (next < pieces.size()) {
      const RecordRange& piece = pieces[next];
      const bool last_rank = k == active - 1;
      if (!last_rank && 2 * before + piece.num_records > 2 * target) break;
      AddPiece(&(*ranks)[static_cast<size_t>(k)], piece);
      before += piece.num_records;
      ++next;
    }
  }
}

// The streams of stage `stage` for `world_size` ranks over `pieces` (in file
// order): permuted and dealt greedily with shuffle, else contiguous blocks.
// Only ranks with a non-empty local batch get pieces.
std::vector<RankStream> Deal(const StreamJob& job, int64_t epoch, int32_t stage,
                             std::vector<RecordRange> pieces, int world_size) {
  std::vector<RankStream> ranks(static_cast<size_t>(world_size));
  int active = 0;
  while (active < world_size && LocalBatchRows(job.global_batch, active, world_size) > 0) {
    ++active;
  }
  if (active == 0) return ranks;
  if (job.shuffle) {
    ShufflePieces(&pieces, job, epoch, stage);
    DealGreedy(pieces, active, &ranks);
  } else {
    DealContiguous(pieces, active, &ranks);
  }
  return ranks;
}

// `pieces` sorted by (file, record), merged into maximal ranges, and cut at
// the job's shard boundaries in splittable files (so no piece is larger than
// a shard, and the next stage can balance them).
std::vector<RecordRange> MergeAndCut(const StreamJob& job, std::vector<RecordRange> pieces) {
  std::sort(pieces.begin(), pieces.end(), [](const RecordRange& a, const RecordRange& b) {
    return std::pair(a.file, a.first_record) < std::pair(b.file, b.first_record);
  });
  std::vector<RecordRange> merged;
  for (const RecordRange& piece : pieces) {
    if (piece.num_records <= 0) continue;
    if (!merged.empty() && merged.back().file == piece.file &&
        merged.back().first_record + merged.back().num_records == piece.first_record) {
      merged.back().num_records += piece.num_records;
    } else {
      merged.push_back(piece);
    }
  }
  std::vector<RecordRange> cut;
  for (const RecordRange& range : merged) {
    if (!Splittable(job, range.file)) {
      cut.push_back(range);
      continue;
    }
    const int64_t end = range.first_record + range.num_records;
    for (int64_t first = range.first_record; first < end;) {
      const int64_t shard_end = (first / job.shard_records + 1) * job.shard_records;
      const int64_t last = std::min(end, shard_end);
      cut.push_back(RecordRange{range.file, first, last - first});
      first = last;
    }
  }
  return cut;
}

// Appends the records of `stream` at input positions `sorted_positions` (one
// record each) and at positions [tail_begin, stream.examples) to `out`.
void AppendPositions(const RankStream& stream, const std::vector<int64_t>& sorted_positions,
                     int64_t tail_begin, std::vector<RecordRange>* out) {
  int64_t range_start = 0;  // input position of the current range's first record
  size_t next = 0;
  for (const RecordRange& range : stream.ranges) {
    const int64_t range_end = range_start + range.num_records;
    for (; next < sorted_positions.size() && sorted_positions[next] < range_end; ++next) {
      const int64_t offset = sorted_positions[next] - range_start;
      out->push_back(RecordRange{range.file, range.first_record + offset, 1});
    }
    const int64_t from = std::max(tail_begin, range_start);
    if (from < range_end) {
      out->push_back(
          RecordRange{range.file, range.first_record + (from - range_start), range_end - from});
    }
    range_start = range_end;
  }
}

// The records `streams` (stage `stage`) had not emitted after `steps` steps:
// per rank, replay its shuffle buffer over the rows it trained; what is left
// is the buffer's slots and the input not yet read.
std::vector<RecordRange> StageLeftover(const StreamJob& job, int64_t epoch, int32_t stage,
                                       const StageStreams& streams, int64_t steps) {
  const std::vector<int64_t> rank_examples = streams.RankExamples();
  const int world_size = static_cast<int>(rank_examples.size());
  std::vector<RecordRange> left;
  for (int r = 0; r < world_size; ++r) {
    const RankStream& stream = streams.ranks[static_cast<size_t>(r)];
    // The sum of StreamStepRows(rank_examples, global_batch, r, s) for s < steps.
    const int64_t consumed =
        std::min(stream.examples, steps * LocalBatchRows(job.global_batch, r, world_size));
    ShuffleOrder order(job.seed, StreamShuffleKey(epoch, stage, r), job.shuffle_buffer,
                       stream.examples);
    for (int64_t i = 0; i < consumed; ++i) order.Next();
    std::vector<int64_t> slots = order.slots();
    std::sort(slots.begin(), slots.end());
    AppendPositions(stream, slots, order.next_input(), &left);
  }
  return MergeAndCut(job, std::move(left));
}

// What a world_size-0 stage (the in-memory planner) had not trained after
// `steps` global batches of EpochExampleOrder over the files.
StatusOr<std::vector<RecordRange>> InMemoryLeftover(const StreamJob& job, int64_t epoch,
                                                    int64_t steps) {
  const std::vector<int64_t> order =
      EpochExampleOrder(job.seed, epoch, job.file_records, job.shuffle);
  const int64_t total = static_cast<int64_t>(order.size());
  if (steps > (total + job.global_batch - 1) / job.global_batch) {
    return InvalidArgumentError("data stage 0 (in-memory order) has " + std::to_string(steps) +
                                " steps; the epoch has " + std::to_string(total) +
                                " examples in global batches of " +
                                std::to_string(job.global_batch));
  }
  std::vector<int64_t> ids(order.begin() + std::min(total, steps * job.global_batch), order.end());
  std::sort(ids.begin(), ids.end());
  std::vector<RecordRange> left;
  int32_t file = 0;
  int64_t file_start = 0;  // id of the current file's record 0
  for (int64_t id : ids) {
    while (id >= file_start + job.file_records[static_cast<size_t>(file)]) {
      file_start += job.file_records[static_cast<size_t>(file)];
      ++file;
    }
    left.push_back(RecordRange{file, id - file_start, 1});
  }
  return MergeAndCut(job, std::move(left));
}

Status CheckJob(const StreamJob& job, int world_size) {
  if (world_size < 1) {
    return InvalidArgumentError("stream plan: world size " + std::to_string(world_size) + " < 1");
  }
  if (job.global_batch < 1) {
    return InvalidArgumentError("stream plan: global batch " + std::to_string(job.global_batch) +
                                " < 1");
  }
  for (size_t f = 0; f < job.file_records.size(); ++f) {
    if (job.file_records[f] < 0) {
      return InvalidArgumentError("stream plan: file " + std::to_string(f) + " has " +
                                  std::to_string(job.file_records[f]) + " records");
    }
  }
  return OkStatus();
}

Status CheckStage(const std::vector<DataStage>& stages, size_t i) {
  const DataStage& stage = stages[i];
  const std::string name = "data stage " + std::to_string(i);
  if (stage.world_size < 0 || stage.steps < 0) {
    return InvalidArgumentError(name + " has world size " + std::to_string(stage.world_size) +
                                " and " + std::to_string(stage.steps) + " steps");
  }
  if (stage.world_size == 0 && i > 0) {
    return InvalidArgumentError(name + ": only the first stage may be the in-memory order");
  }
  if (i > 0 && stage.world_size == stages[i - 1].world_size) {
    return InvalidArgumentError(name + " has the world size of the stage before it (" +
                                std::to_string(stage.world_size) +
                                "); a resume on the same world size continues a stage");
  }
  return OkStatus();
}

}  // namespace

std::vector<int64_t> StageStreams::RankExamples() const {
  std::vector<int64_t> examples;
  examples.reserve(ranks.size());
  for (const RankStream& rank : ranks) examples.push_back(rank.examples);
  return examples;
}

std::vector<RecordRange> JobShards(const StreamJob& job) {
  std::vector<RecordRange> shards;
  for (size_t f = 0; f < job.file_records.size(); ++f) {
    const int32_t file = static_cast<int32_t>(f);
    const int64_t records = job.file_records[f];
    if (records <= 0) continue;
    if (!Splittable(job, file)) {
      shards.push_back(RecordRange{file, 0, records});
      continue;
    }
    for (int64_t first = 0; first < records; first += job.shard_records) {
      shards.push_back(RecordRange{file, first, std::min(job.shard_records, records - first)});
    }
  }
  return shards;
}

StatusOr<StageStreams> PlanStreams(const StreamJob& job, int64_t epoch,
                                   const std::vector<DataStage>& stages, int world_size) {
  RETURN_IF_ERROR(CheckJob(job, world_size));
  std::vector<RecordRange> pieces = JobShards(job);  // what stage i's streams hold
  for (size_t i = 0; i < stages.size(); ++i) {
    RETURN_IF_ERROR(CheckStage(stages, i));
    const DataStage& stage = stages[i];
    if (stage.world_size == 0) {
      ASSIGN_OR_RETURN(pieces, InMemoryLeftover(job, epoch, stage.steps));
      continue;
    }
    StageStreams streams;
    streams.stage = static_cast<int32_t>(i);
    streams.ranks = Deal(job, epoch, streams.stage, std::move(pieces), stage.world_size);
    const int64_t steps = StreamSteps(streams.RankExamples(), job.global_batch);
    if (stage.steps > steps) {
      return InvalidArgumentError("data stage " + std::to_string(i) + " has " +
                                  std::to_string(stage.steps) + " steps; its streams have " +
                                  std::to_string(steps));
    }
    if (i + 1 == stages.size() && stage.world_size == world_size) {
      streams.skip_steps = stage.steps;
      return streams;
    }
    pieces = StageLeftover(job, epoch, streams.stage, streams, stage.steps);
  }
  StageStreams streams;
  streams.stage = static_cast<int32_t>(stages.size());
  streams.ranks = Deal(job, epoch, streams.stage, std::move(pieces), world_size);
  return streams;
}

std::vector<RecordId> EmissionOrder(const StreamJob& job, int64_t epoch, int32_t stage,
                                    const RankStream& stream, int rank) {
  std::vector<int64_t> starts;  // input position of each range's first record
  int64_t position = 0;
  for (const RecordRange& range : stream.ranges) {
    starts.push_back(position);
    position += range.num_records;
  }
  ShuffleOrder order(job.seed, StreamShuffleKey(epoch, stage, rank), job.shuffle_buffer,
                     stream.examples);
  std::vector<RecordId> emitted;
  emitted.reserve(static_cast<size_t>(stream.examples));
  for (ShuffleOrder::Draw draw = order.Next(); draw.slot >= 0; draw = order.Next()) {
    const size_t r = static_cast<size_t>(
        std::upper_bound(starts.begin(), starts.end(), draw.position) - starts.begin() - 1);
    const RecordRange& range = stream.ranges[r];
    emitted.push_back(RecordId{range.file, range.first_record + (draw.position - starts[r])});
  }
  return emitted;
}

}  // namespace shardtrain::coordinator
