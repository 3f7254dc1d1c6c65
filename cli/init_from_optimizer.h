// The optimizer of `train --init-from FILE`: a Keras file compiled with an
// optimizer (worker/optimizer/keras_optimizer_read.h) supplies it when the job
// config sets none (no optimizer kind: what the config does set, such as a
// --learning-rate override, is kept on top); when the config sets one, the
// config's wins and a difference is reported. A file without an optimizer,
// or with one we cannot honour, leaves the config's.
#pragma once

#include <string>

#include "common/status.h"
#include "proto/config.pb.h"
#include "storage/keras/keras_files.h"

namespace shardtrain::cli {

// Updates `config`'s optimizer from `file` (read from `path`) as above and
// returns the one line to print about it, or "" when there is nothing to say.
// InvalidArgument when the combined optimizer is not valid.
StatusOr<std::string> TakeOptimizerFromKerasFile(const std::string& path,
                                                 const storage::keras::KerasModelFile& file,
                                                 config::JobConfig* config);

}  // namespace shardtrain::cli
