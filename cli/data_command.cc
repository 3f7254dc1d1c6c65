// `shardtrain data prepare`: turns a dataset's source files into TFRecord
// shards of tf.train.Example that `shardtrain train` reads.
#include <iostream>

#include "cli/commands.h"
#include "common/flags.h"
#include "worker/data/prepare.h"

namespace shardtrain::cli {

Status RunData(const std::vector<std::string>& args) {
  std::optional<std::string> dataset, source, output;
  std::optional<int64_t> num_shards;
  FlagSet flags("shardtrain data prepare",
                "shardtrain data prepare --dataset fashion_mnist --output DIR [flags]",
                "Writes train-NNNNN-of-NNNNN.tfrecord and test-NNNNN-of-NNNNN.tfrecord shards of\n"
                "tf.train.Example (image: 784 raw bytes, label: int64) into DIR.");
  flags.String("dataset", &dataset, "dataset to convert: fashion_mnist");
  flags.String("source", &source,
               "directory of the idx .gz files (default /usr/share/datasets/fashion-mnist, "
               "from the Debian package dataset-fashion-mnist)");
  flags.String("output", &output, "directory to write the shards into (created if missing)");
  flags.Int("num-shards", &num_shards, "shards per split (default 4)");
  if (args.empty() || (args[0] != "prepare" && args[0] != "-h" && args[0] != "--help")) {
    return InvalidArgumentError("expected `shardtrain data prepare ...`; see `shardtrain data "
                                "prepare --help`");
  }
  std::vector<std::string> rest(args.begin() + (args[0] == "prepare" ? 1 : 0), args.end());
  RETURN_IF_ERROR(flags.Parse(rest));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (!flags.positional().empty()) {
    return InvalidArgumentError("unexpected argument '" + flags.positional()[0] + "'");
  }
  if (!dataset || *dataset != "fashion_mnist") {
    return InvalidArgumentError("--dataset must be fashion_mnist (the only dataset with a "
                                "converter so far)");
  }
  if (!output) return InvalidArgumentError("--output DIR is required");
  int64_t shards = num_shards.value_or(4);
  if (shards < 1 || shards > 99999) {
    return InvalidArgumentError("--num-shards must be in [1, 99999], got " +
                                std::to_string(shards));
  }
  return data::PrepareFashionMnist(source.value_or("/usr/share/datasets/fashion-mnist"), *output,
                                   static_cast<int>(shards), &std::cout);
}

}  // namespace shardtrain::cli
