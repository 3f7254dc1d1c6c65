// The subcommands of the `shardtrain` binary. Each takes its arguments (after
// the subcommand name), writes user-facing output to stdout, and returns a
// Status that main() turns into a message and an exit code.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::cli {

// shardtrain train CONFIG [flags]. Under mpirun a rank that fails prints its
// error itself ("error on rank R of N: ...") before it waits for the other
// ranks, and sets `*error_reported` so that main() does not print it again.
Status RunTrain(const std::vector<std::string>& args, bool* error_reported);
// shardtrain coordinator CONFIG --listen HOST:PORT --world-size N [flags]
Status RunCoordinator(const std::vector<std::string>& args);
// shardtrain data prepare (--dataset fashion_mnist | --features X.npy --labels Y.npy |
// --npz FILE | --csv FILE --label-column NAME) --output DIR [flags], and
// shardtrain data inspect FILE [--count]
Status RunData(const std::vector<std::string>& args);
// shardtrain evaluate CONFIG [--checkpoint PREFIX|DIR] [--predictions FILE.npy]
Status RunEvaluate(const std::vector<std::string>& args);
// shardtrain predict [CONFIG] --input IN --output OUT.npy|OUT.csv [--keras F|--saved-model D]
Status RunPredict(const std::vector<std::string>& args);
// shardtrain export --config CONFIG --checkpoint PATH --format F --output OUT [--version N]
Status RunExport(const std::vector<std::string>& args);
// shardtrain serve --model_name NAME --model_base_path DIR [--port 8501]
Status RunServe(const std::vector<std::string>& args);
// shardtrain inspect PREFIX|DIR [--key KEY] [--values]
Status RunInspect(const std::vector<std::string>& args);

}  // namespace shardtrain::cli
