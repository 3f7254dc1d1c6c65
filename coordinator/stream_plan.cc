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

// The most stages an epoch may have: StreamShuffleKey holds the stage in 12
// bits.
constexpr size_t kMaxStages = size_t{1} << 12;

bool Splittable(const StreamJob& job, int32_t file) {
  const size_t f = static_cast<size_t>(file);
  return job.shard_records > 0 && f < job.splittable.size() && job.splittable[f];
}

void SortByRecord(std::vector<RecordRange>* ranges) {
  std::sort(ranges->begin(), ranges->end(), [](const RecordRange& a, const RecordRange& b) {
    return std::pair(a.file, a.first_record) < std::pair(b.file, b.first_record);
  });
}

// Pieces dealt to one rank together: pieces [first, first + count) of the
// stage's pieces, holding `records` records.
struct PieceGroup {
  size_t first = 0;
  size_t count = 0;
  int64_t records = 0;
};

// `pieces` (in file order) grouped for dealing: the pieces of one unsplittable
// (compressed) file form one group, so one rank reads and decompresses that
// file once; any other piece is a group of its own. A fresh epoch has one
// piece per unsplittable file, so there every group is one piece.
std::vector<PieceGroup> GroupPieces(const StreamJob& job, const std::vector<RecordRange>& pieces) {
  std::vector<PieceGroup> groups;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const RecordRange& piece = pieces[i];
    const bool joins = i > 0 && pieces[i - 1].file == piece.file && !Splittable(job, piece.file);
    if (!joins) groups.push_back(PieceGroup{i, 0, 0});
    ++groups.back().count;
    groups.back().records += piece.num_records;
  }
  return groups;
}

// Fisher–Yates over `groups` with Philox(seed, step=epoch, stream) bits;
// Lemire's multiply-shift maps 32 bits onto [0, i].
void ShuffleGroups(std::vector<PieceGroup>* groups, const StreamJob& job, int64_t epoch,
                   int32_t stage) {
  const uint32_t stream = kStreamShardOrderStream ^ static_cast<uint32_t>(stage);
  for (int64_t i = static_cast<int64_t>(groups->size()) - 1; i > 0; --i) {
    const uint32_t bits =
        PhiloxBits(job.seed, static_cast<uint64_t>(epoch), stream, static_cast<uint64_t>(i));
    const int64_t j =
        static_cast<int64_t>((static_cast<uint64_t>(bits) * static_cast<uint64_t>(i + 1)) >> 32);
    std::swap((*groups)[static_cast<size_t>(i)], (*groups)[static_cast<size_t>(j)]);
  }
}

void AddGroup(const std::vector<RecordRange>& pieces, const PieceGroup& group, RankStream* stream) {
  for (size_t i = group.first; i < group.first + group.count; ++i) {
    stream->ranges.push_back(pieces[i]);
  }
  stream->examples += group.records;
}

// Each group, in order, to the rank holding the fewest examples so far (ties:
// the lowest rank): ranks end within one group's size of each other.
void DealGreedy(const std::vector<RecordRange>& pieces, const std::vector<PieceGroup>& groups,
                std::vector<RankStream>* ranks) {
  using Load = std::pair<int64_t, int>;  // (examples, rank)
  std::priority_queue<Load, std::vector<Load>, std::greater<Load>> loads;
  for (int r = 0; r < static_cast<int>(ranks->size()); ++r) loads.push({0, r});
  for (const PieceGroup& group : groups) {
    Load least = loads.top();
    loads.pop();
    AddGroup(pieces, group, &(*ranks)[static_cast<size_t>(least.second)]);
    loads.push({least.first + group.records, least.second});
  }
}

// The groups in order as contiguous blocks: rank k's block ends at the group
// boundary nearest to (k + 1) / world_size of the examples.
void DealContiguous(const std::vector<RecordRange>& pieces, const std::vector<PieceGroup>& groups,
                    std::vector<RankStream>* ranks) {
  const int world_size = static_cast<int>(ranks->size());
  int64_t total = 0;
  for (const PieceGroup& group : groups) total += group.records;
  int64_t before = 0;  // examples of the groups dealt so far
  size_t next = 0;
  for (int k = 0; k < world_size; ++k) {
    // (k + 1) * total / world_size without overflow.
    const int64_t target =
        (total / world_size) * (k + 1) + (total % world_size) * (k + 1) / world_size;
    while (next < groups.size()) {
      const PieceGroup& group = groups[next];
      const bool last_rank = k == world_size - 1;
      if (!last_rank && 2 * before + group.records > 2 * target) break;
      AddGroup(pieces, group, &(*ranks)[static_cast<size_t>(k)]);
      before += group.records;
      ++next;
    }
  }
}

// The streams of stage `stage` for `world_size` ranks over `pieces` (in file
// order): groups permuted and dealt greedily with shuffle, else contiguous
// blocks. A leftover stage's ranks read their pieces in file and record order,
// so no reader goes back in a file (a compressed one would be decompressed
// again from its start).
std::vector<RankStream> Deal(const StreamJob& job, int64_t epoch, int32_t stage,
                             const std::vector<RecordRange>& pieces, int world_size) {
  std::vector<RankStream> ranks(static_cast<size_t>(world_size));
  std::vector<PieceGroup> groups = GroupPieces(job, pieces);
  if (job.shuffle) {
    ShuffleGroups(&groups, job, epoch, stage);
    DealGreedy(pieces, groups, &ranks);
  } else {
    DealContiguous(pieces, groups, &ranks);
  }
  if (stage > 0) {
    for (RankStream& rank : ranks) SortByRecord(&rank.ranges);
  }
  return ranks;
}

// `pieces` sorted by (file, record), merged into maximal ranges, and cut at
// the job's shard boundaries in splittable files (so no piece is larger than
// a shard, and the next stage can balance them).
std::vector<RecordRange> MergeAndCut(const StreamJob& job, std::vector<RecordRange> pieces) {
  SortByRecord(&pieces);
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
  // The in-memory loader's shard sizes stop at the last file it used: the
  // files data.train_examples or validation_split leave unused (trailing 0s)
  // are not shards of its order.
  std::vector<int64_t> shard_sizes = job.file_records;
  while (!shard_sizes.empty() && shard_sizes.back() == 0) shard_sizes.pop_back();
  int64_t total = 0;
  for (int64_t size : shard_sizes) total += size;
  if (steps > (total + job.global_batch - 1) / job.global_batch) {
    return InvalidArgumentError("data stage 0 (in-memory order) has " + std::to_string(steps) +
                                " steps; the epoch has " + std::to_string(total) +
                                " examples in global batches of " +
                                std::to_string(job.global_batch));
  }
  std::vector<bool> untrained(static_cast<size_t>(total), false);  // by id
  {
    const std::vector<int64_t> order = EpochExampleOrder(job.seed, epoch, shard_sizes, job.shuffle);
    for (int64_t i = std::min(total, steps * job.global_batch); i < total; ++i) {
      untrained[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
    }
  }
  // Ids are numbered file by file: merge consecutive untrained ones.
  std::vector<RecordRange> left;
  size_t id = 0;
  for (size_t f = 0; f < shard_sizes.size(); ++f) {
    const int32_t file = static_cast<int32_t>(f);
    for (int64_t record = 0; record < shard_sizes[f]; ++record, ++id) {
      if (!untrained[id]) continue;
      RecordRange* last = left.empty() ? nullptr : &left.back();
      if (last != nullptr && last->file == file &&
          last->first_record + last->num_records == record) {
        ++last->num_records;
      } else {
        left.push_back(RecordRange{file, record, 1});
      }
    }
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
  if (world_size > job.global_batch) {
    return InvalidArgumentError("stream plan: world size " + std::to_string(world_size) +
                                " > global batch " + std::to_string(job.global_batch) +
                                "; every rank needs a row of each global batch");
  }
  for (size_t f = 0; f < job.file_records.size(); ++f) {
    if (job.file_records[f] < 0) {
      return InvalidArgumentError("stream plan: file " + std::to_string(f) + " has " +
                                  std::to_string(job.file_records[f]) + " records");
    }
  }
  return OkStatus();
}

Status CheckStage(const StreamJob& job, const std::vector<DataStage>& stages, size_t i) {
  const DataStage& stage = stages[i];
  const std::string name = "data stage " + std::to_string(i);
  if (stage.world_size < 0 || stage.steps < 0) {
    return InvalidArgumentError(name + " has world size " + std::to_string(stage.world_size) +
                                " and " + std::to_string(stage.steps) + " steps");
  }
  if (stage.world_size > job.global_batch) {
    return InvalidArgumentError(name + " has world size " + std::to_string(stage.world_size) +
                                ", more than the global batch " + std::to_string(job.global_batch));
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
  if (stages.size() > kMaxStages) {
    return InvalidArgumentError("stream plan: " + std::to_string(stages.size()) +
                                " data stages; an epoch has at most " + std::to_string(kMaxStages));
  }
  std::vector<RecordRange> pieces = JobShards(job);  // what stage i's streams hold
  for (size_t i = 0; i < stages.size(); ++i) {
    RETURN_IF_ERROR(CheckStage(job, stages, i));
    const DataStage& stage = stages[i];
    if (stage.world_size == 0) {
      ASSIGN_OR_RETURN(pieces, InMemoryLeftover(job, epoch, stage.steps));
      continue;
    }
    StageStreams streams;
    streams.stage = static_cast<int32_t>(i);
    streams.ranks = Deal(job, epoch, streams.stage, pieces, stage.world_size);
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
  if (stages.size() == kMaxStages) {
    return InvalidArgumentError("data stage " + std::to_string(kMaxStages) +
                                ": an epoch has at most " + std::to_string(kMaxStages) +
                                " stages; resume on the world size of the last one");
  }
  StageStreams streams;
  streams.stage = static_cast<int32_t>(stages.size());
  streams.ranks = Deal(job, epoch, streams.stage, pieces, world_size);
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
