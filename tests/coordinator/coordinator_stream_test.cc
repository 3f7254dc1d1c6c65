// The coordinator serving streamed training data, service and client on
// loopback: the streaming JobPlan reaches every rank at registration, each
// rank's StreamAssignment is PlanStreams' (fresh epochs, a resume on the same
// world size, a resume on another one), the ranks' ranges cover every used
// record exactly once (with what an interrupted stage trained), a plan of
// 50,000 offsets fits a frame, refusals name their codes, and a client
// refuses a reply that does not fit the plan.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "coordinator/rpc/frame.h"
#include "coordinator/rpc/socket_io.h"

namespace shardtrain::coordinator {
namespace {

constexpr char kToken[] = "secret";
constexpr int64_t kGlobalBatch = 32;

// A file of `records` records; indexed every `index_every` records unless 0
// (a compressed file).
DataFile File(const std::string& path, int64_t records, int64_t index_every) {
  DataFile file;
  file.set_path(path);
  file.set_records(records);
  if (index_every > 0) {
    file.set_index_every(index_every);
    for (int64_t r = 0; r < records; r += index_every) file.add_offsets(r * 3150);
  }
  return file;
}

CoordinatorOptions StreamingOptions(int world) {
  CoordinatorOptions o;
  o.world_size = world;
  o.job_token = kToken;
  o.http_port = -1;
  o.seed = 5;
  o.global_batch = kGlobalBatch;
  o.epochs = 3;
  o.streaming = true;
  o.shard_records = 128;
  o.shuffle_buffer = 64;
  o.train_examples = 1837;
  o.validation_split = 0.25;
  o.files = {File("/data/a.tfrecord", 1000, 100), File("/data/b.tfrecord.gz", 300, 0),
             File("/data/c.tfrecord", 537, 100)};
  return o;
}

// A started coordinator and a registered client per rank (empty on failure).
struct Job {
  std::unique_ptr<Coordinator> coordinator;
  std::vector<std::unique_ptr<CoordinatorClient>> ranks;
};

Job StartJob(const CoordinatorOptions& options) {
  Job job;
  auto started = Coordinator::Start(options);
  EXPECT_TRUE(started.ok()) << started.status();
  if (!started.ok()) return job;
  job.coordinator = std::move(*started);
  for (int rank = 0; rank < options.world_size; ++rank) {
    auto client = CoordinatorClient::Connect("127.0.0.1", job.coordinator->port(), kToken, rank,
                                             options.world_size, 5);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return Job{};
    job.ranks.push_back(std::move(*client));
  }
  return job;
}

// How often each record of each file was dealt or trained.
using RecordCounts = std::vector<std::vector<int>>;

RecordCounts NoRecords(const CoordinatorOptions& o) {
  RecordCounts counts;
  for (const DataFile& file : o.files) counts.emplace_back(file.records(), 0);
  return counts;
}

void CountRanges(const StreamAssignment& a, RecordCounts* counts) {
  for (const RecordRange& range : a.ranges()) {
    for (int64_t r = range.first_record(); r < range.first_record() + range.num_records(); ++r) {
      ++(*counts)[range.file()][r];
    }
  }
}

void ExpectEachRecordOnce(const RecordCounts& counts) {
  for (size_t f = 0; f < counts.size(); ++f) {
    for (size_t r = 0; r < counts[f].size(); ++r) {
      ASSERT_EQ(counts[f][r], 1) << "file " << f << " record " << r;
    }
  }
}

// `got` is rank `rank`'s part of `want`.
void ExpectStream(const StreamAssignment& got, const StageStreams& want, int64_t epoch, int rank) {
  EXPECT_EQ(got.epoch(), epoch);
  EXPECT_EQ(got.stage(), want.stage);
  EXPECT_EQ(got.skip_steps(), want.skip_steps);
  EXPECT_EQ(std::vector<int64_t>(got.rank_examples().begin(), got.rank_examples().end()),
            want.RankExamples());
  std::vector<shardtrain::RecordRange> ranges;
  for (const RecordRange& r : got.ranges()) {
    ranges.push_back({r.file(), r.first_record(), r.num_records()});
  }
  EXPECT_EQ(ranges, want.ranks[static_cast<size_t>(rank)].ranges) << "rank " << rank;
}

TEST(CoordinatorStreamTest, TheStreamingPlanReachesEveryRank) {
  const CoordinatorOptions options = StreamingOptions(3);
  Job job = StartJob(options);
  ASSERT_EQ(job.ranks.size(), 3u);
  for (const auto& rank : job.ranks) {
    const JobPlan& plan = rank->plan();
    EXPECT_TRUE(plan.streaming());
    EXPECT_EQ(plan.global_batch(), kGlobalBatch);
    EXPECT_EQ(plan.shard_records(), 128);
    EXPECT_EQ(plan.shuffle_buffer(), 64);
    EXPECT_EQ(plan.train_examples(), 1837);  // the ranks compare the cut with their own
    EXPECT_EQ(plan.validation_split(), 0.25);
    ASSERT_EQ(plan.files_size(), 3);
    EXPECT_EQ(plan.files(1).path(), "/data/b.tfrecord.gz");
    EXPECT_EQ(plan.files(2).records(), 537);
    EXPECT_EQ(plan.files(2).index_every(), 100);
    EXPECT_EQ(plan.files(2).offsets_size(), 6);
    EXPECT_EQ(plan.files(2).offsets(5), 500 * 3150);
  }
  // Without shuffle the plan's buffer is 1, whatever the option says.
  CoordinatorOptions ordered = StreamingOptions(1);
  ordered.shuffle = false;
  Job in_order = StartJob(ordered);
  ASSERT_EQ(in_order.ranks.size(), 1u);
  EXPECT_EQ(in_order.ranks[0]->plan().shuffle_buffer(), 1);
}

TEST(CoordinatorStreamTest, EachRankGetsItsStreamAndTheRangesCoverEveryRecordOnce) {
  const CoordinatorOptions options = StreamingOptions(3);
  Job job = StartJob(options);
  ASSERT_EQ(job.ranks.size(), 3u);
  const StreamJob stream_job = StreamJobOf(job.ranks[0]->plan());
  for (int64_t epoch : {0, 2}) {
    StatusOr<StageStreams> want = PlanStreams(stream_job, epoch, {}, 3);
    ASSERT_TRUE(want.ok()) << want.status();
    RecordCounts counts = NoRecords(options);
    for (int rank = 0; rank < 3; ++rank) {
      StatusOr<StreamAssignment> got = job.ranks[rank]->GetStreamAssignment(rank, epoch, {});
      ASSERT_TRUE(got.ok()) << got.status();
      ExpectStream(*got, *want, epoch, rank);
      EXPECT_GT(got->ranges_size(), 0);
      CountRanges(*got, &counts);
    }
    ExpectEachRecordOnce(counts);
  }
}

TEST(CoordinatorStreamTest, AResumeContinuesOrDealsWhatTheStageBeforeLeft) {
  const CoordinatorOptions options = StreamingOptions(3);
  Job job = StartJob(options);
  ASSERT_EQ(job.ranks.size(), 3u);
  const StreamJob stream_job = StreamJobOf(job.ranks[0]->plan());
  const int64_t epoch = 1;

  // Same world size: the stage's streams continue after its steps.
  const std::vector<shardtrain::DataStage> same = {{3, 2}};
  for (int rank = 0; rank < 3; ++rank) {
    StatusOr<StreamAssignment> got = job.ranks[rank]->GetStreamAssignment(rank, epoch, same);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->stage(), 0);
    EXPECT_EQ(got->skip_steps(), 2);
    ExpectStream(*got, *PlanStreams(stream_job, epoch, same, 3), epoch, rank);
  }

  // Two ranks took 5 steps: what they trained plus the new stage's ranges is
  // every record once.
  const int64_t steps = 5;
  const std::vector<shardtrain::DataStage> other = {{2, steps}};
  StatusOr<StageStreams> before = PlanStreams(stream_job, epoch, {}, 2);
  ASSERT_TRUE(before.ok()) << before.status();
  RecordCounts counts = NoRecords(options);
  for (int rank = 0; rank < 2; ++rank) {
    const std::vector<RecordId> emitted =
        EmissionOrder(stream_job, epoch, 0, before->ranks[rank], rank);
    int64_t trained = 0;
    for (int64_t s = 0; s < steps; ++s) {
      trained += StreamStepRows(before->RankExamples(), kGlobalBatch, rank, s);
    }
    for (int64_t i = 0; i < trained; ++i) ++counts[emitted[i].file][emitted[i].record];
  }
  StatusOr<StageStreams> want = PlanStreams(stream_job, epoch, other, 3);
  ASSERT_TRUE(want.ok()) << want.status();
  for (int rank = 0; rank < 3; ++rank) {
    StatusOr<StreamAssignment> got = job.ranks[rank]->GetStreamAssignment(rank, epoch, other);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->stage(), 1);
    EXPECT_EQ(got->skip_steps(), 0);
    ExpectStream(*got, *want, epoch, rank);
    CountRanges(*got, &counts);
  }
  ExpectEachRecordOnce(counts);
}

TEST(CoordinatorStreamTest, RefusalsNameTheirCodesAndKeepTheConnection) {
  Job job = StartJob(StreamingOptions(2));
  ASSERT_EQ(job.ranks.size(), 2u);
  CoordinatorClient& r0 = *job.ranks[0];

  StatusOr<StreamAssignment> other_rank = r0.GetStreamAssignment(1, 0, {});
  EXPECT_EQ(other_rank.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(other_rank.status().message().find(
                "stream plan request for rank 1 on the coordinator connection of rank 0"),
            std::string::npos)
      << other_rank.status();
  StatusOr<StreamAssignment> beyond = r0.GetStreamAssignment(0, 3, {});
  EXPECT_EQ(beyond.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(beyond.status().message().find("stream plan of epoch 3: beyond the job's 3 epochs"),
            std::string::npos)
      << beyond.status();
  EXPECT_EQ(r0.GetStreamAssignment(0, -1, {}).status().code(), StatusCode::kInvalidArgument);
  StatusOr<StreamAssignment> too_far = r0.GetStreamAssignment(0, 0, {{1, 1000}});
  EXPECT_EQ(too_far.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_far.status().message().find("stream plan of epoch 0: data stage 0 has 1000 steps"),
            std::string::npos)
      << too_far.status();
  // A stage's world size is bounded by the global batch before anything is
  // planned for its ranks.
  StatusOr<StreamAssignment> huge = r0.GetStreamAssignment(0, 0, {{2147483647, 1}});
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("data stage 0 has world size 2147483647, more than "
                                         "the global batch 32"),
            std::string::npos)
      << huge.status();
  StatusOr<RankAssignment> epoch_plan = r0.GetEpochAssignment(0, 0);
  EXPECT_EQ(epoch_plan.status().code(), StatusCode::kFailedPrecondition);
  // The refusals left the connection usable.
  EXPECT_TRUE(r0.GetStreamAssignment(0, 0, {}).ok());
}

// The reply to `request` on the connection `fd` to `peer`.
Envelope Exchange(int fd, const std::string& peer, const Envelope& request) {
  const Deadline deadline = DeadlineAfter(5);
  const std::string frame = EncodeFrame(request);
  unsigned char header[kFrameHeaderBytes];
  std::string body;
  Status io = WriteAll(fd, frame.data(), frame.size(), deadline, peer);
  if (io.ok()) io = ReadExactly(fd, header, sizeof(header), deadline, peer);
  if (io.ok()) {
    body.assign(DecodeFrameLength(header), '\0');
    io = ReadExactly(fd, body.data(), body.size(), deadline, peer);
  }
  EXPECT_TRUE(io.ok()) << io;
  StatusOr<Envelope> reply = DecodeFrameBody(body);
  EXPECT_TRUE(reply.ok()) << reply.status();
  return reply.ok() ? *reply : Envelope();
}

TEST(CoordinatorStreamTest, AStreamRequestForAnotherRankIsRefusedAndClosed) {
  auto c = Coordinator::Start(StreamingOptions(2));
  ASSERT_TRUE(c.ok()) << c.status();
  const int port = (*c)->port();
  auto r0 = CoordinatorClient::Connect("127.0.0.1", port, kToken, 0, 2, 5);
  ASSERT_TRUE(r0.ok()) << r0.status();
  const std::string peer = "127.0.0.1:" + std::to_string(port);
  StatusOr<int> fd = ConnectTcp("127.0.0.1", port, DeadlineAfter(5));
  ASSERT_TRUE(fd.ok()) << fd.status();
  Envelope registration;
  registration.mutable_register_request()->set_rank(1);
  registration.mutable_register_request()->set_world_size(2);
  registration.mutable_register_request()->set_job_token(kToken);
  EXPECT_TRUE(Exchange(*fd, peer, registration).has_register_response());
  Envelope stranger;
  stranger.mutable_stream_plan_request()->set_rank(0);
  const Envelope reply = Exchange(*fd, peer, stranger);
  CloseSocket(*fd);
  EXPECT_EQ(reply.error().code(), static_cast<int>(StatusCode::kFailedPrecondition));
  EXPECT_EQ(reply.error().message(),
            "stream plan request for rank 0 on a connection that did not register it");
  EXPECT_TRUE(reply.error().connection_closed());
  // Rank 1 is gone, so the job is aborted: streams are refused with the reason.
  for (int i = 0; i < 100 && !(*c)->aborted(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  StatusOr<StreamAssignment> aborted = (*r0)->GetStreamAssignment(0, 0, {});
  EXPECT_EQ(aborted.status().code(), StatusCode::kAborted);
}

TEST(CoordinatorStreamTest, AnInMemoryJobRefusesStreamPlans) {
  CoordinatorOptions options = StreamingOptions(1);
  options.streaming = false;
  options.files.clear();
  options.shard_sizes = {100};
  Job job = StartJob(options);
  ASSERT_EQ(job.ranks.size(), 1u);
  EXPECT_FALSE(job.ranks[0]->plan().streaming());
  EXPECT_EQ(job.ranks[0]->plan().files_size(), 0);
  StatusOr<StreamAssignment> streams = job.ranks[0]->GetStreamAssignment(0, 0, {});
  EXPECT_EQ(streams.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(streams.status().message().find("the job's training data is in memory"),
            std::string::npos)
      << streams.status();
  EXPECT_TRUE(job.ranks[0]->GetEpochAssignment(0, 0).ok());
}

TEST(CoordinatorStreamTest, StreamingOptionsAreChecked) {
  CoordinatorOptions o = StreamingOptions(1);
  o.shard_records = 0;
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = StreamingOptions(1);
  o.global_batch = 0;
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = StreamingOptions(kGlobalBatch + 1);  // a rank without a row of each batch
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Coordinator::Start(StreamingOptions(kGlobalBatch)).ok());
  o = StreamingOptions(1);
  o.files[0].mutable_offsets()->RemoveLast();  // 1000 records need 10 offsets
  auto sparse = Coordinator::Start(o);
  EXPECT_EQ(sparse.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sparse.status().message().find(
                "training file /data/a.tfrecord has 1000 records but 9 offsets, one every 100"),
            std::string::npos)
      << sparse.status();
  o = StreamingOptions(1);
  o.files[1].set_path(std::string(kMaxMessageBytes, 'x'));
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
}

// 150 GB of 3 KB records indexed every 1024 records: 50,000 offsets of up to
// 5 GB each reach every rank in one registration reply (~300 KB).
TEST(CoordinatorStreamTest, APlanOfFiftyThousandOffsetsFitsAFrame) {
  CoordinatorOptions o = StreamingOptions(2);
  o.shard_records = 1024;
  o.files.clear();
  for (int f = 0; f < 30; ++f) {
    DataFile file;
    file.set_path("/datasets/imagenet/train-" + std::to_string(f) + "-of-00030.tfrecord");
    file.set_records(1024 * 1667);
    file.set_index_every(1024);
    for (int64_t i = 0; i < 1667; ++i) file.add_offsets(i * 1024 * 3150);
    o.files.push_back(std::move(file));
  }
  Job job = StartJob(o);
  ASSERT_EQ(job.ranks.size(), 2u);
  EXPECT_EQ(job.ranks[1]->plan().files_size(), 30);
  EXPECT_EQ(job.ranks[1]->plan().files(29).offsets_size(), 1667);
  EXPECT_LT(job.ranks[1]->plan().ByteSizeLong(), kMaxMessageBytes / 64);
  StatusOr<StreamAssignment> got = job.ranks[1]->GetStreamAssignment(1, 0, {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->ranges_size(), 30 * 1667 / 2);
}

// A coordinator impostor for one connection: answers the registration with a
// one-rank plan of one 100-record file, then the next request with `bogus`.
void ServeOneBogusAssignment(boost::asio::ip::tcp::acceptor* acceptor, StreamAssignment bogus) {
  namespace asio = boost::asio;
  asio::ip::tcp::socket socket = acceptor->accept();
  auto exchange = [&socket](const Envelope& reply) {
    unsigned char header[kFrameHeaderBytes];
    asio::read(socket, asio::buffer(header));
    std::string body(DecodeFrameLength(header), '\0');
    asio::read(socket, asio::buffer(body));
    asio::write(socket, asio::buffer(EncodeFrame(reply)));
  };
  Envelope registered;
  RegisterResponse* response = registered.mutable_register_response();
  response->set_world_size(1);
  *response->mutable_plan()->add_files() = File("/data/a.tfrecord", 100, 10);
  exchange(registered);
  Envelope assignment;
  *assignment.mutable_stream_assignment() = std::move(bogus);
  exchange(assignment);
}

TEST(CoordinatorStreamTest, AReplyOutsideThePlanIsDataLoss) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  StreamAssignment bogus;
  bogus.add_rank_examples(50);
  RecordRange* range = bogus.add_ranges();
  range->set_first_record(60);
  range->set_num_records(50);  // records 60..109 of a 100-record file
  std::thread server([&] { ServeOneBogusAssignment(&acceptor, bogus); });
  auto client =
      CoordinatorClient::Connect("127.0.0.1", acceptor.local_endpoint().port(), "", 0, 1, 5);
  ASSERT_TRUE(client.ok()) << client.status();
  StatusOr<StreamAssignment> got = (*client)->GetStreamAssignment(0, 0, {});
  server.join();
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find("sent an inconsistent stream plan for epoch 0: records "
                                        "[60, 110) of file 0 are not in the plan"),
            std::string::npos)
      << got.status();
}

}  // namespace
}  // namespace shardtrain::coordinator
