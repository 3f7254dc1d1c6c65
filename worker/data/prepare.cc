// Fashion-MNIST idx -> TFRecord shards. See prepare.h for the contract.
#include "worker/data/prepare.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/idx_reader.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxShards = 99999;  // the 5-digit shard number
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

Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  Status status;
  if (::fsync(fd) != 0) status = ErrnoToStatus(errno, "fsync", path);
  ::close(fd);
  return status;
}

// Checks that we can create files in `dir` (creating it if missing), so an
// unwritable destination fails before any work, with its name in the message.
Status PrepareOutputDir(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return ErrnoToStatus(error.value(), "cannot create output directory", dir)
        .WithContext("data prepare");
  }
  if (!fs::is_directory(dir, error)) {
    return FailedPreconditionError("output path '" + dir + "' exists and is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoToStatus(errno, "output directory is not writable", dir)
        .WithContext("data prepare");
  }
  return OkStatus();
}

// Writes examples [begin, end) of one split as one shard: temp file, fsync, rename.
Status WriteShard(const IdxImages& images, const std::vector<uint8_t>& labels, int64_t begin,
                  int64_t end, const std::string& final_path, std::string* scratch) {
  const std::string temp_path =
      final_path + ".tmp-" + std::to_string(static_cast<long long>(::getpid()));
  ASSIGN_OR_RETURN(std::unique_ptr<storage::TfRecordWriter> writer,
                   storage::TfRecordWriter::Open(temp_path));
  const int64_t image_size = images.rows * images.cols;
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  std::string* image_bytes = features["image"].mutable_bytes_list()->add_value();
  tf::Int64List* label_list = features["label"].mutable_int64_list();
  label_list->add_value(0);
  Status status;
  for (int64_t i = begin; i < end && status.ok(); ++i) {
    image_bytes->assign(reinterpret_cast<const char*>(images.pixels.data() + i * image_size),
                        static_cast<size_t>(image_size));
    label_list->set_value(0, labels[static_cast<size_t>(i)]);
    scratch->clear();
    {
      google::protobuf::io::StringOutputStream stream(scratch);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);  // map order fixed: same bytes every run
      if (!example.SerializeToCodedStream(&coded)) {
        status = InternalError("cannot serialize example " + std::to_string(i) + " for '" +
                               final_path + "'");
        break;
      }
    }
    status = writer->Write(*scratch);
  }
  if (status.ok()) status = writer->Close();
  if (status.ok() && std::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    status = ErrnoToStatus(errno, "rename to '" + final_path + "'", temp_path);
  }
  if (!status.ok()) {
    writer.reset();
    std::error_code ignored;
    fs::remove(temp_path, ignored);
  }
  return status;
}

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
    return InvalidArgumentError("--shards " + std::to_string(num_shards) + " exceeds the " +
                                std::to_string(count) + " examples of the " + split +
                                " split; every shard must hold at least one example");
  }
  std::string scratch;
  for (int shard = 0; shard < num_shards; ++shard) {
    const int64_t begin = count * shard / num_shards;
    const int64_t end = count * (shard + 1) / num_shards;
    const std::string path =
        (fs::path(output_dir) / ShardFileName(split, shard, num_shards)).string();
    RETURN_IF_ERROR(WriteShard(images, labels, begin, end, path, &scratch));
    if (log != nullptr) *log << "wrote " << path << " (" << (end - begin) << " examples)\n";
  }
  return OkStatus();
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
  RETURN_IF_ERROR(PrepareOutputDir(output_dir));
  RETURN_IF_ERROR(PrepareSplit(source_dir, "train", "train", output_dir, num_shards, log));
  RETURN_IF_ERROR(PrepareSplit(source_dir, "t10k", "test", output_dir, num_shards, log));
  // Make the renames durable.
  return FsyncPath(output_dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace shardtrain::data
