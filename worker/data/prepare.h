// `shardtrain data prepare`: converts Fashion-MNIST's idx files into TFRecord
// shards of tf.train.Example, the format the training data reader (dataset.h)
// and TensorFlow pipelines read.
//
// Contract: reads `source_dir`/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
// (or the same names without .gz) and writes, into `output_dir` (created if
// missing), `train-{i:05d}-of-{N:05d}.tfrecord` and
// `test-{i:05d}-of-{N:05d}.tfrecord` for i in [0, N). Each record is a
// serialized Example with features `image` (bytes_list: one value of
// rows*cols raw uint8 pixels, row-major) and `label` (int64_list: one value),
// in idx order; shard i holds the contiguous examples [i*n/N, (i+1)*n/N).
// The idx files must hold Fashion-MNIST's shape: 28x28 images (DataLoss
// naming the file otherwise), as many labels as images, classes 0..9
// (InvalidArgument); damaged files are DataLoss (idx_reader.h).
// Each shard is written under a temporary name, fsynced and renamed, so a crash
// never leaves a partial shard under a final name. Output is deterministic.
// Progress lines go to `log` when it is not null. Not thread-safe with respect
// to other writers of `output_dir`.
#pragma once

#include <ostream>
#include <string>

#include "common/status.h"

namespace shardtrain::data {

// Where Debian's dataset-fashion-mnist package installs the idx files.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

Status PrepareFashionMnist(const std::string& source_dir, const std::string& output_dir,
                           int num_shards, std::ostream* log);

// "train-00002-of-00004.tfrecord" for ShardFileName("train", 2, 4).
std::string ShardFileName(const std::string& split, int index, int count);

}  // namespace shardtrain::data
