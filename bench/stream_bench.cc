// stream_bench: the streamed input pipeline (data::ExampleStream) against the
// in-memory loader (data::LoadFiles) on one synthetic TFRecord set, each mode
// in its own process so its peak RSS (getrusage ru_maxrss) is its own
// (bench/run_stream_bench.sh runs the modes and prints the table).
//
// The set: --files files DIR/train-NNNNN-of-NNNNN.tfrecord (written by
// data::WriteRecordShards) holding --examples tf.train.Example records built
// by data::FillExample: feature `x` a float_list of 784 Philox-random values in
// [0, 1), label `y` an int64 class id in [0, 10).
//
// Modes (one line "key=value ..." each):
//   generate  writes the set unless DIR/stream_bench_set.txt says the same set
//             is there; refuses when the disk lacks room.
//   stream    reads every file once (warms the page cache), indexes them
//             (storage::IndexTfRecordFile, --shard-records), deals their shards
//             to one rank (coordinator::PlanStreams, epoch 0) and times an
//             ExampleStream over them (--shuffle-buffer slots, --reader-threads)
//             delivering --examples examples in batches of --batch rows.
//   memory    times data::LoadFiles of the whole set, then gathering batches
//             of --batch random rows (GatherRows, as the in-memory trainer
//             does) until --examples examples were gathered.
// Usage: stream_bench MODE --dir DIR [flags]; stream_bench --help.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/philox.h"
#include "common/stream_order.h"
#include "coordinator/stream_plan.h"
#include "proto/tf/example.pb.h"
#include "storage/tfrecord/record_index.h"
#include "worker/data/array_examples.h"
#include "worker/data/dataset.h"
#include "worker/data/example_decoder.h"
#include "worker/data/example_stream.h"
#include "worker/data/file_list.h"
#include "worker/data/record_shards.h"
#include "worker/in_memory_batches.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatureSize = 784;
constexpr int64_t kClasses = 10;
constexpr uint64_t kDataSeed = 22;
// Upper bound of one record's TFRecord bytes (Example ~3,150 + framing 16).
constexpr int64_t kRecordBytesBound = 3200;
constexpr char kSetFile[] = "stream_bench_set.txt";

struct BenchFlags {
  std::string mode;
  std::string dir;
  int64_t examples = 0;
  int64_t files = 8;
  int64_t batch = 64;
  int64_t shuffle_buffer = 10000;
  int64_t reader_threads = 2;
  int64_t shard_records = 1024;
};

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
}

// The decoder of the set: x FLOAT_LIST [784], y CLASS_ID of 10 classes.
StatusOr<data::ExampleDecoder> SetDecoder() {
  config::DataConfig data;
  config::FeatureSpec* x = data.add_features();
  x->set_key(data::kArrayFeatureKey);
  x->set_type(config::FeatureSpec::FLOAT_LIST);
  x->add_shape(kFeatureSize);
  data.mutable_label()->set_key(data::kArrayLabelKey);
  data.set_num_classes(kClasses);
  return data::ExampleDecoder::Create(data, {kFeatureSize});
}

std::string SetDescription(const BenchFlags& flags) {
  std::ostringstream out;
  out << "examples=" << flags.examples << " files=" << flags.files
      << " x=float_list[784] y=class_id[10] seed=" << kDataSeed << "\n";
  return out.str();
}

// The set's files, when DIR/stream_bench_set.txt describes this set and every
// file is there; else NotFound.
StatusOr<std::vector<std::string>> ExistingSet(const BenchFlags& flags) {
  std::ifstream in(flags.dir + "/" + kSetFile);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str() != SetDescription(flags)) return NotFoundError("no set in " + flags.dir);
  ASSIGN_OR_RETURN(std::vector<std::string> paths, data::ListShards(flags.dir, "train"));
  if (static_cast<int64_t>(paths.size()) != flags.files) {
    return NotFoundError("incomplete set in " + flags.dir);
  }
  return paths;
}

// Example `index`: 784 values in [0, 1) and a class id, from Philox.
Status SerializeExample(int64_t index, data::ArraySplit* row, std::string* bytes) {
  const auto element = static_cast<uint64_t>(index) * kFeatureSize;
  for (int64_t i = 0; i < kFeatureSize; ++i) {
    const uint32_t bits = PhiloxBits(kDataSeed, 0, 0, element + static_cast<uint64_t>(i));
    row->features.floats[static_cast<size_t>(i)] = static_cast<float>(bits >> 8) * 0x1p-24f;
  }
  row->labels.ids[0] = PhiloxBits(kDataSeed, 0, 1, static_cast<uint64_t>(index)) % kClasses;
  tf::Example example;
  data::FillExample(*row, 0, &example);
  bytes->clear();
  return example.SerializeToString(bytes) ? OkStatus() : InternalError("Example serialization");
}

Status Generate(const BenchFlags& flags) {
  if (ExistingSet(flags).ok()) {
    std::printf("mode=generate cached=1 dir=%s\n", flags.dir.c_str());
    return OkStatus();
  }
  RETURN_IF_ERROR(data::PrepareOutputDirectory(flags.dir));
  const int64_t needed = flags.examples * kRecordBytesBound;
  const auto space = std::filesystem::space(flags.dir);
  if (static_cast<int64_t>(space.available) < needed + (int64_t{2} << 30)) {
    return ResourceExhaustedError("the set needs ~" + std::to_string(needed >> 20) + " MiB and " +
                                  flags.dir + " has " + std::to_string(space.available >> 20) +
                                  " MiB free (2 GiB kept free)");
  }
  data::ArraySplit row;
  row.features.shape = {kFeatureSize};
  row.features.floats.resize(kFeatureSize);
  row.features.rows = 1;
  row.labels.class_ids = true;
  row.labels.ids.resize(1);
  row.labels.rows = 1;
  const auto start = Clock::now();
  RETURN_IF_ERROR(data::WriteRecordShards(
      flags.dir, "train", flags.examples, static_cast<int>(flags.files),
      [&row](int64_t index, std::string* bytes) { return SerializeExample(index, &row, bytes); },
      &std::cout));
  RETURN_IF_ERROR(data::WriteFileDurably(flags.dir + "/" + kSetFile, SetDescription(flags)));
  std::printf("mode=generate cached=0 seconds=%.1f\n", Since(start));
  return OkStatus();
}

// Reads every file once through 4 MiB read() calls: the page cache holds the
// set afterwards (when it fits), as a second epoch would find it.
StatusOr<int64_t> WarmPageCache(const std::vector<std::string>& paths) {
  std::vector<char> buffer(size_t{4} << 20);
  int64_t bytes = 0;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return NotFoundError("cannot open " + path);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      bytes += in.gcount();
    }
  }
  return bytes;
}

// One rank's shards of epoch 0 (PlanStreams on 1 rank: a shuffled shard
// order, as `shardtrain train` streams them) and the files' indexes.
StatusOr<std::vector<RecordRange>> RankShards(const BenchFlags& flags, data::StreamFiles* files) {
  coordinator::StreamJob job;
  job.seed = 1;
  job.global_batch = flags.batch;
  job.shuffle_buffer = flags.shuffle_buffer;
  job.shard_records = flags.shard_records;
  for (const std::string& path : files->paths) {
    ASSIGN_OR_RETURN(storage::RecordIndex index,
                     storage::IndexTfRecordFile(path, flags.shard_records));
    job.file_records.push_back(index.records);
    job.splittable.push_back(true);
    files->indexes.push_back(std::move(index));
  }
  ASSIGN_OR_RETURN(coordinator::StageStreams streams, coordinator::PlanStreams(job, 0, {}, 1));
  return streams.ranks[0].ranges;
}

Status Stream(const BenchFlags& flags, const std::vector<std::string>& paths) {
  ASSIGN_OR_RETURN(const int64_t warm_bytes, WarmPageCache(paths));
  ASSIGN_OR_RETURN(const data::ExampleDecoder decoder, SetDecoder());
  data::StreamFiles files;
  files.paths = paths;
  auto start = Clock::now();
  ASSIGN_OR_RETURN(std::vector<RecordRange> ranges, RankShards(flags, &files));
  const double index_seconds = Since(start);
  const double rss_before_mb = PeakRssMb();
  data::StreamOptions options;
  options.seed = 1;
  options.shuffle_key = StreamShuffleKey(0, 0, 0);
  options.shuffle_buffer = flags.shuffle_buffer;
  options.reader_threads = static_cast<int>(flags.reader_threads);
  std::vector<float> x(static_cast<size_t>(flags.batch * kFeatureSize));
  std::vector<int32_t> class_ids(static_cast<size_t>(flags.batch));
  int64_t taken = 0, label_sum = 0;
  double first_batch_seconds = 0;
  start = Clock::now();
  ASSIGN_OR_RETURN(auto stream,
                   data::ExampleStream::Open(files, std::move(ranges), decoder, options));
  while (taken < flags.examples) {
    ASSIGN_OR_RETURN(const int64_t rows,
                     stream->Next(flags.batch, x.data(), class_ids.data(), nullptr));
    if (taken == 0) first_batch_seconds = Since(start);
    for (int64_t r = 0; r < rows; ++r) label_sum += class_ids[static_cast<size_t>(r)];
    taken += rows;
    if (rows < flags.batch) break;  // end of the epoch
  }
  const double seconds = Since(start);
  stream.reset();
  std::printf(
      "mode=stream examples=%lld seconds=%.3f examples_per_sec=%.0f first_batch_ms=%.1f "
      "index_seconds=%.3f warm_gb=%.2f rss_before_stream_mb=%.1f peak_rss_mb=%.1f "
      "label_sum=%lld\n",
      static_cast<long long>(taken), seconds, static_cast<double>(taken) / seconds,
      first_batch_seconds * 1e3, index_seconds, static_cast<double>(warm_bytes) / 1e9,
      rss_before_mb, PeakRssMb(), static_cast<long long>(label_sum));
  return OkStatus();
}

Status Memory(const BenchFlags& flags, const std::vector<std::string>& paths) {
  ASSIGN_OR_RETURN(const data::ExampleDecoder decoder, SetDecoder());
  auto start = Clock::now();
  ASSIGN_OR_RETURN(const data::Dataset dataset, data::LoadFiles(paths, decoder, {}));
  const double load_seconds = Since(start);
  const double load_rss_mb = PeakRssMb();
  std::vector<int64_t> indices(static_cast<size_t>(flags.batch));
  std::vector<float> x(static_cast<size_t>(flags.batch * kFeatureSize));
  std::vector<int32_t> class_ids(static_cast<size_t>(flags.batch));
  const auto n = static_cast<uint64_t>(dataset.num_examples);
  int64_t taken = 0, label_sum = 0;
  start = Clock::now();
  while (taken < flags.examples) {
    for (int64_t r = 0; r < flags.batch; ++r) {
      indices[static_cast<size_t>(r)] =
          static_cast<int64_t>(PhiloxBits(kDataSeed, 1, 0, static_cast<uint64_t>(taken + r)) % n);
    }
    GatherRows(dataset, indices.data(), flags.batch, x.data(), class_ids.data(), nullptr);
    for (int64_t r = 0; r < flags.batch; ++r) label_sum += class_ids[static_cast<size_t>(r)];
    taken += flags.batch;
  }
  const double seconds = Since(start);
  std::printf(
      "mode=memory dataset_examples=%lld load_seconds=%.2f load_examples_per_sec=%.0f "
      "load_peak_rss_mb=%.1f examples=%lld gather_examples_per_sec=%.0f peak_rss_mb=%.1f "
      "label_sum=%lld\n",
      static_cast<long long>(dataset.num_examples), load_seconds,
      static_cast<double>(dataset.num_examples) / load_seconds, load_rss_mb,
      static_cast<long long>(taken), static_cast<double>(taken) / seconds, PeakRssMb(),
      static_cast<long long>(label_sum));
  return OkStatus();
}

StatusOr<BenchFlags> ParseFlags(const std::vector<std::string>& args, bool* help) {
  std::optional<std::string> dir;
  std::optional<int64_t> examples, files, batch, buffer, threads, shard_records;
  FlagSet set("stream_bench", "stream_bench generate|stream|memory --dir DIR [flags]",
              "Streamed input pipeline vs in-memory loader on a synthetic TFRecord set.");
  set.String("dir", &dir, "the set's directory (required)");
  set.Int("examples", &examples,
          "generate: examples of the set (default 1350000); stream/memory: examples to time "
          "(default 400000)");
  set.Int("files", &files, "files of the set (default 8)");
  set.Int("batch", &batch, "rows per batch (default 64)");
  set.Int("shuffle-buffer", &buffer, "stream: shuffle buffer slots (default 10000)");
  set.Int("reader-threads", &threads, "stream: reader threads (default 2)");
  set.Int("shard-records", &shard_records, "stream: records per shard (default 1024)");
  RETURN_IF_ERROR(set.Parse(args));
  *help = set.help_requested();
  if (*help) {
    std::cout << set.Help();
    return BenchFlags{};
  }
  BenchFlags flags;
  if (set.positional().size() != 1 || !dir.has_value()) {
    return InvalidArgumentError("usage: stream_bench generate|stream|memory --dir DIR");
  }
  flags.mode = set.positional()[0];
  flags.dir = *dir;
  flags.examples = examples.value_or(flags.mode == "generate" ? 1350000 : 400000);
  flags.files = files.value_or(8);
  flags.batch = batch.value_or(64);
  flags.shuffle_buffer = buffer.value_or(10000);
  flags.reader_threads = threads.value_or(2);
  flags.shard_records = shard_records.value_or(1024);
  if (flags.examples < flags.files || flags.files < 1 || flags.batch < 1) {
    return InvalidArgumentError("--examples >= --files >= 1 and --batch >= 1 are required");
  }
  return flags;
}

Status Run(const std::vector<std::string>& args) {
  bool help = false;
  ASSIGN_OR_RETURN(const BenchFlags flags, ParseFlags(args, &help));
  if (help) return OkStatus();
  if (flags.mode == "generate") return Generate(flags);
  if (flags.mode != "stream" && flags.mode != "memory") {
    return InvalidArgumentError("unknown mode '" + flags.mode + "' (generate, stream or memory)");
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, data::ListShards(flags.dir, "train"));
  return flags.mode == "stream" ? Stream(flags, paths) : Memory(flags, paths);
}

}  // namespace
}  // namespace shardtrain

int main(int argc, char** argv) {
  shardtrain::Status status = shardtrain::Run(std::vector<std::string>(argv + 1, argv + argc));
  if (!status.ok()) {
    std::cerr << "stream_bench: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
