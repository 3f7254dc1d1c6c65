// Lists the TFRecord files of a job's data: glob patterns (data.train_files,
// data.validation_files), or the NNNNN-of-NNNNN shard set `shardtrain data
// prepare` writes into data.dir.
//
// Contract of MatchFiles: each pattern is expanded as POSIX glob(3) does
// (`*`, `?` and `[...]` in any path component; no braces, no `~`; relative
// patterns against the current directory), directories left out. A pattern's
// matches are sorted by name (byte order), the patterns' lists are joined in
// pattern order, and a file matched twice is kept at its first place, so the
// order is the same on every machine and rank. Errors: NotFound naming the
// pattern (`field`, e.g. "data.train_files[1]") that matches no file;
// InvalidArgument for an empty pattern; an I/O error reading a directory.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::data {

// The files `patterns` match. `field` names the config field in errors;
// entry i is named field + "[i]".
StatusOr<std::vector<std::string>> MatchFiles(const std::vector<std::string>& patterns,
                                              const std::string& field);

// The shard files of `split` in `dir`, in shard order, after checking that
// they form one complete NNNNN-of-NNNNN sequence. Errors, each naming `dir`:
// NotFound when no shard of `split` is there (with the `shardtrain data
// prepare` hint) or one of the sequence is missing; InvalidArgument when
// shard sets of different sizes are mixed.
StatusOr<std::vector<std::string>> ListShards(const std::string& dir, const std::string& split);

}  // namespace shardtrain::data
