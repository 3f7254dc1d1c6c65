// Test helper shared by the checkpoint tests (tests/worker, tests/mpi):
// writes a trainer's checkpoint tensors as a one-shard bundle, as a
// single-rank save would, without the coordinator's commit.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_writer.h"
#include "worker/checkpoint/checkpoint_contents.h"

namespace shardtrain::checkpoint::testing {

// Writes PREFIX.index and PREFIX.data-00000-of-00001 holding `tensors`.
// Fails the calling test (ASSERT) on any error.
inline void WriteOneShardBundle(storage::FileSystem* fs, const std::string& prefix,
                                const std::vector<SaveTensor>& tensors) {
  auto writer = storage::BundleWriter::Open(fs, prefix);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const SaveTensor& t : tensors) {
    Status added = t.dtype == DType::kString
                       ? (*writer)->AddStrings(t.key, t.shape, t.strings)
                       : (*writer)->Add(t.key, t.dtype, t.shape, t.data, t.bytes);
    ASSERT_TRUE(added.ok()) << added;
  }
  Status finished = (*writer)->Finish();
  ASSERT_TRUE(finished.ok()) << finished;
}

}  // namespace shardtrain::checkpoint::testing
