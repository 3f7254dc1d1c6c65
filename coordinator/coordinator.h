// Coordinator: the control plane of a job (protocol: proto/coordinator.proto).
// Workers register (with the job token when one is set), learn the job plan,
// fetch their part of each epoch and heartbeat their progress. An in-memory
// job answers EpochPlanRequests (shard_planner.h); a streaming job answers
// StreamPlanRequests with the streams of stream_plan.h, computed once per
// (epoch, stages, world size) and cached for the other ranks. A registered
// rank whose connection drops before it said Done, or that is silent for
// longer than the heartbeat timeout, aborts the job: every later heartbeat
// reply carries abort + a reason naming the rank, and aborted() turns true for
// the hosting process. A peer that sends a malformed or oversized frame,
// presents a wrong token, or claims a rank that is taken or outside the job is
// logged (with its address) and disconnected; the coordinator keeps serving
// everyone else. Nothing a peer sends can crash it.
//
// GET /status on the HTTP port returns the job's progress as JSON, including
// the history of rank 0's reports (status_page.h); GET / returns a live status
// page that polls it; any other request gets a 404 JSON error.
//
// Runs Boost.Asio on one thread of its own, hosted in-process by rank 0 or by
// `shardtrain coordinator`. The public methods are thread-safe. Binds
// 127.0.0.1 by default; a non-loopback address requires a job token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/rpc/wire_format.h"
#include "coordinator/stream_plan.h"
#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

struct CoordinatorOptions {
  std::string host = "127.0.0.1";
  int port = 0;       // 0: an ephemeral port (see Coordinator::port())
  int http_port = 0;  // 0: ephemeral; -1: no HTTP status endpoint
  int world_size = 1;
  std::string job_token;  // required from workers when not empty
  double heartbeat_timeout_seconds = 60;
  uint64_t seed = 0;
  bool shuffle = true;
  int64_t global_batch = 0;
  std::vector<int64_t> shard_sizes;             // records per training shard
  size_t max_message_bytes = kMaxMessageBytes;  // largest request accepted; >= 64
  // The job's epochs (training.epochs); a stream plan request for a later
  // epoch is OutOfRange. 0: not checked.
  int64_t epochs = 0;
  // Streamed training data (data.in_memory false): ranks ask for their
  // streams over `files` (StreamPlanRequest) instead of epoch plans, and get
  // the files, shard_records and shuffle_buffer in the JobPlan.
  bool streaming = false;
  std::vector<DataFile> files;   // as indexed: path, records used, index_every, offsets
  int64_t shard_records = 1024;  // records per shard of an indexed (uncompressed) file
  int64_t shuffle_buffer = 1;    // slots per rank; the plan says 1 without shuffle
  int64_t train_examples = 0;    // data.train_examples the files were cut with
  double validation_split = 0;   // training.validation_split the files were cut with
};

class Coordinator {
 public:
  // Validates the options, binds both ports and starts serving.
  // InvalidArgument for a non-loopback host without a token, a bad address or
  // port, world size < 1, a negative shard size or global batch, a timeout
  // <= 0, or max_message_bytes < 64; for a streaming job also a global batch
  // or shard_records or shuffle_buffer < 1, a global batch below the world
  // size, a file with negative records or
  // fewer offsets than its records need, or a plan too large for one frame.
  // Unavailable when a port cannot be bound.
  static StatusOr<std::unique_ptr<Coordinator>> Start(CoordinatorOptions options);
  ~Coordinator();  // Stop()
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The bound ports (the ephemeral ones resolved); http_port() is -1 without
  // the status endpoint.
  int port() const;
  int http_port() const;
  const CoordinatorOptions& options() const;

  // Whether the job was aborted (a rank died, went silent, or Abort()), and why.
  bool aborted() const;
  std::string abort_reason() const;
  // Aborts the job (e.g. the hosting rank failed); the first reason wins.
  void Abort(const std::string& reason);
  // Every rank registered and said Done.
  bool all_done() const;
  // No registered rank still has a connection open.
  bool all_disconnected() const;
  // The GET /status document.
  std::string StatusJson() const;
  // Stops serving and joins the I/O thread; open connections are closed.
  // Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit Coordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The StreamJob a streaming JobPlan describes: what the coordinator hands to
// PlanStreams (a file is splittable when it has offsets). Ranks and tests may
// use it to replay a stream (EmissionOrder).
StreamJob StreamJobOf(const JobPlan& plan);

// A fresh random job token: 32 hex characters from std::random_device.
std::string GenerateJobToken();

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace shardtrain::coordinator
