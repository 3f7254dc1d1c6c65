// Fashion-MNIST idx -> TFRecord shards. See prepare.h for the contract.
#include "worker/data/prepare.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "proto/tf/example.pb.h"
#include "worker/data/idx_reader.h"
#include "worker/data/record_shards.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

constexpr int kNumClasses = 10;
constexpr int64_t kImageSide = 28;  // Fashion-MNIST images are 28x28

// "<dir>/<name>.gz" when it exists, else "<dir>/<name>" when that exists, else NotFound.
StatusOr<std::string> FindIdxFile(const std::string& dir, const std::string& name) {
  const std::string gz = (fs::path(dir) / (name + ".gz")).string();
  const std::string plain = (fs::path(dir) / name).string();
  std::error_code error;
  if (fs::exists(gz, error)) return gz;
  if (fs::exists(plain, error)) return plain;
  return NotFoundError("Fashion-MNIST file '" + gz + "' not found (nor '" + plain +
                       "'); install the Debian package dataset-fashion-mnist (files in " +
                       kDefaultFashionMnistDir + ") or pass the directory holding the idx files");
}

// Record i of a split: a deterministic tf.train.Example with features `image`
// (rows*cols raw pixels) and `label`. Reuses one Example across records.
class FashionMnistExamples {
 public:
  FashionMnistExamples(const IdxImages& images, const std::vector<uint8_t>& labels)
      : images_(images), labels_(labels) {
    auto& features = *example_.mutable_features()->mutable_feature();
    image_bytes_ = features["image"].mutable_bytes_list()->add_value();
    label_list_ = features["label"].mutable_int64_list();
    label_list_->add_value(0);
  }

  Status Serialize(int64_t i, std::string* bytes) {
    const int64_t image_size = images_.rows * images_.cols;
    image_bytes_->assign(reinterpret_cast<const char*>(images_.pixels.data() + i * image_size),
                         static_cast<size_t>(image_size));
    label_list_->set_value(0, labels_[static_cast<size_t>(i)]);
    bytes->clear();
    google::protobuf::io::StringOutputStream stream(bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map order fixed: same bytes every run
    if (!example_.SerializeToCodedStream(&coded)) {
      return InternalError("cannot serialize example " + std::to_string(i));
    }
    return OkStatus();
  }

 private:
  const IdxImages& images_;
  const std::vector<uint8_t>& labels_;
  tf::Example example_;
  std::string* image_bytes_;
  tf::Int64List* label_list_;
};

// Fashion-MNIST's shape: 28x28 images (DataLoss naming the file otherwise: a
// damaged header or another dataset), one label per image, classes 0..9.
Status CheckFashionMnist(const IdxImages& images, const std::string& images_path,
                         const std::vector<uint8_t>& labels, const std::string& labels_path) {
  if (images.rows != kImageSide || images.cols != kImageSide) {
    return DataLossError("'" + images_path + "' declares images of " +
                         std::to_string(images.rows) + "x" + std::to_string(images.cols) +
                         " pixels, but Fashion-MNIST images are " + std::to_string(kImageSide) +
                         "x" + std::to_string(kImageSide) +
                         "; the header is damaged or the file is from another dataset");
  }
  if (static_cast<int64_t>(labels.size()) != images.count) {
    return InvalidArgumentError("count mismatch: '" + images_path + "' holds " +
                                std::to_string(images.count) + " images but '" + labels_path +
                                "' holds " + std::to_string(labels.size()) + " labels");
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= kNumClasses) {
      return InvalidArgumentError(
          "'" + labels_path + "': label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
          ", but Fashion-MNIST has classes 0.." + std::to_string(kNumClasses - 1));
    }
  }
  return OkStatus();
}

Status PrepareSplit(const std::string& source_dir, const std::string& idx_prefix,
                    const std::string& split, const std::string& output_dir, int num_shards,
                    std::ostream* log) {
  ASSIGN_OR_RETURN(const std::string images_path,
                   FindIdxFile(source_dir, idx_prefix + "-images-idx3-ubyte"));
  ASSIGN_OR_RETURN(const std::string labels_path,
                   FindIdxFile(source_dir, idx_prefix + "-labels-idx1-ubyte"));
  ASSIGN_OR_RETURN(const IdxImages images, ReadIdxImages(images_path));
  ASSIGN_OR_RETURN(const std::vector<uint8_t> labels, ReadIdxLabels(labels_path));
  RETURN_IF_ERROR(CheckFashionMnist(images, images_path, labels, labels_path));
  const int64_t count = images.count;
  if (num_shards > count) {
    return InvalidArgumentError("--num-shards " + std::to_string(num_shards) + " exceeds the " +
                                std::to_string(count) + " examples of the " + split +
                                " split; every shard must hold at least one example");
  }
  FashionMnistExamples examples(images, labels);
  return WriteRecordShards(
      output_dir, split, count, num_shards,
      [&examples](int64_t i, std::string* bytes) { return examples.Serialize(i, bytes); }, log);
}

}  // namespace

std::string ShardFileName(const std::string& split, int index, int count) {
  char suffix[48];
  std::snprintf(suffix, sizeof(suffix), "-%05d-of-%05d.tfrecord", index, count);
  return split + suffix;
}

Status PrepareFashionMnist(const std::string& source_dir, const std::string& output_dir,
                           int num_shards, std::ostream* log) {
  if (num_shards < 1 || num_shards > kMaxShards) {
    return InvalidArgumentError("number of shards must be in [1, " + std::to_string(kMaxShards) +
                                "], got " + std::to_string(num_shards));
  }
  RETURN_IF_ERROR(PrepareOutputDirectory(output_dir));
  RETURN_IF_ERROR(PrepareSplit(source_dir, "train", "train", output_dir, num_shards, log));
  return PrepareSplit(source_dir, "t10k", "test", output_dir, num_shards, log);
}

}  // namespace shardtrain::data
