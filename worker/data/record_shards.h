// Writing a split as TFRecord shard files crash-safely: the file plumbing of
// `shardtrain data prepare` (prepare.h for Fashion-MNIST, prepare_arrays.h for
// --features/--npz/--csv).
//
// Contract:
// - PrepareOutputDirectory creates `dir` (and parents) and checks that files
//   can be created in it, so an unwritable destination fails before any work;
//   errors name the directory.
// - WriteRecordShards writes records [0, count) as `num_shards` files
//   DIR/SPLIT-{i:05d}-of-{N:05d}.tfrecord, shard i holding the contiguous
//   records [i*count/N, (i+1)*count/N); `serialize(i, &bytes)` produces record
//   i. Each shard is written under a temporary name, fsynced and renamed, so a
//   crash never leaves a partial shard under a final name; the directory is
//   fsynced at the end. A line "wrote PATH (K examples)" per shard goes to
//   `log` when it is not null. num_shards must be in [1, count].
// - WriteFileDurably writes `contents` to `path` the same way (temporary
//   name, fsync, rename, directory fsync); errors name the path.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "common/status.h"

namespace shardtrain::data {

// Most shards per split: the shard number in file names has 5 digits.
inline constexpr int kMaxShards = 99999;

using SerializeRecord = std::function<Status(int64_t index, std::string* bytes)>;

Status PrepareOutputDirectory(const std::string& dir);

Status WriteRecordShards(const std::string& dir, const std::string& split, int64_t count,
                         int num_shards, const SerializeRecord& serialize, std::ostream* log);

Status WriteFileDurably(const std::string& path, const std::string& contents);

}  // namespace shardtrain::data
