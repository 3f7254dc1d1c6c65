// RewriteLogFile: replaces a log file's content with `lines` (each ended with
// '\n') through a temporary file beside it and a rename, so that a crash
// leaves either the old file or the new one. The epoch logs (CsvLogger,
// MetricsLog) use it to drop the epochs a resumed run trains again. Errors
// name the file: the open's errno, DataLoss on a failed write (disk full?),
// Internal on a failed rename.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::callbacks {

Status RewriteLogFile(const std::string& path, const std::vector<std::string>& lines);

}  // namespace shardtrain::callbacks
