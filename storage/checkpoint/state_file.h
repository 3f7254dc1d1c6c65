// The `checkpoint` state file (shared/spec/tf-formats.md §2): a text-format
// CheckpointState naming the newest checkpoint of a directory and the ones a
// CheckpointManager keeps, with their timestamps. tf.train.latest_checkpoint,
// tf.train.CheckpointManager and `shardtrain train`'s resume read it.
//
// Written atomically: text to `checkpoint.tmp<32 hex>` in the same
// directory, fsync, rename over `checkpoint`, fsync the directory. Paths in it
// are written relative to the directory. Stateless functions; thread-safe as
// the FileSystem is.
#pragma once

#include <string>

#include "common/status.h"
#include "proto/tf/checkpoint.pb.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

inline constexpr char kCheckpointStateFile[] = "checkpoint";

// The file's text, byte for byte as TensorFlow writes it: `field: value`
// lines in field order, strings quoted with C escapes, doubles in Python's
// shortest round-trip form (always with a '.' or exponent), trailing newline.
std::string FormatCheckpointState(const tf::CheckpointState& state);

// Parses the text; fields in any order. InvalidArgument naming `source`.
StatusOr<tf::CheckpointState> ParseCheckpointState(const std::string& text,
                                                   const std::string& source);

// Reads DIR/checkpoint. NotFound when the file is absent; DataLoss naming the
// file when it does not parse or names no checkpoint.
StatusOr<tf::CheckpointState> ReadCheckpointState(FileSystem* fs, const std::string& dir);

// Replaces DIR/checkpoint atomically (see the top of this file). On failure
// DIR/checkpoint is unchanged and the temporary file is deleted.
Status WriteCheckpointState(FileSystem* fs, const std::string& dir,
                            const tf::CheckpointState& state);

// A path from the state file as a usable prefix: absolute paths unchanged,
// relative ones joined onto `dir`.
std::string ResolveCheckpointPath(const std::string& dir, const std::string& path);

// The newest checkpoint prefix of `dir` (like tf.train.latest_checkpoint):
// NotFound when there is no state file or its newest checkpoint's .index is
// missing (the message says which).
StatusOr<std::string> LatestCheckpoint(FileSystem* fs, const std::string& dir);

}  // namespace shardtrain::storage
