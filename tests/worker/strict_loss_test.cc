// The loss and the metrics on device memory: every loss kind's Compute and the
// metrics' CorrectCount and Accumulate on the strict emulated device (inputs
// moved there with the memory API; host access to them would fault) equal the
// CPU backend's bit for bit, and the strict device records no misuse. A host
// pointer given as the model output is the device's FailedPrecondition; the
// host copy buffers (loss::HostReads, loss::MirroredArray) round-trip and name
// their errors.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "worker/loss/host_staging.h"
#include "worker/loss/loss.h"
#include "worker/metrics/metric_set.h"

namespace shardtrain {
namespace {

constexpr int64_t kRows = 5;

config::JobConfig JobOf(const std::string& text) {
  config::JobConfig job;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &job)) << text;
  return job;
}

// A batch in host memory: outputs (kRows, units) and targets of the job's kind.
struct Batch {
  int64_t units = 0;
  std::vector<float> outputs;
  std::vector<int32_t> class_ids;  // when width == 0
  std::vector<float> values;       // (kRows, width) when width > 0
  int64_t width = 0;

  loss::Targets Targets() const {
    return width == 0 ? loss::Targets::ClassIds(class_ids.data())
                      : loss::Targets::Vectors(values.data(), width);
  }
};

// Outputs in [-2, 2) and targets from a fixed pattern; class ids in
// [0, classes) or vectors (one-hot when `one_hot`, else values in [0, 1]).
Batch MakeBatch(int64_t units, int64_t classes, int64_t width, bool one_hot) {
  Batch batch;
  batch.units = units;
  batch.width = width;
  for (int64_t i = 0; i < kRows * units; ++i) {
    batch.outputs.push_back(static_cast<float>((i * 37) % 16) / 4.0f - 2.0f);
  }
  for (int64_t r = 0; r < kRows; ++r) {
    batch.class_ids.push_back(static_cast<int32_t>((r * 2 + 1) % classes));
    for (int64_t j = 0; j < width; ++j) {
      const bool hot = j == (r * 2 + 1) % width;
      batch.values.push_back(one_hot ? (hot ? 1.0f : 0.0f)
                                     : static_cast<float>((r * 3 + j * 5) % 9) / 8.0f);
    }
  }
  return batch;
}

// `host` copied to a new device buffer of `backend`.
template <typename T>
kernels::DeviceBuffer ToDevice(kernels::KernelBackend& backend, const std::vector<T>& host) {
  const int64_t bytes = static_cast<int64_t>(host.size() * sizeof(T));
  auto buffer = backend.AllocateDevice(bytes, "test input");
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  if (!buffer.ok()) return {};
  if (bytes > 0) backend.CopyToDevice(buffer->data(), host.data(), bytes);
  return std::move(*buffer);
}

// The batch in the strict device's memory.
struct DeviceBatch {
  kernels::DeviceBuffer outputs, class_ids, values;
  int64_t width = 0;

  DeviceBatch(kernels::KernelBackend& backend, const Batch& batch)
      : outputs(ToDevice(backend, batch.outputs)),
        class_ids(ToDevice(backend, batch.class_ids)),
        values(ToDevice(backend, batch.values)),
        width(batch.width) {}
  loss::Targets Targets() const {
    return width == 0 ? loss::Targets::ClassIds(class_ids.as<int32_t>())
                      : loss::Targets::Vectors(values.floats(), width);
  }
};

uint64_t Bits(double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

struct LossCase {
  const char* name;
  const char* job;
  kernels::Activation head;
  int64_t units, classes, width;
  bool one_hot;
};

// The loss sum and gradient on `backend` (CPU: host arrays; strict: device).
struct LossResult {
  double sum = 0;
  std::vector<float> grad;
};

LossResult RunOnCpu(const LossCase& c, const Batch& batch, bool training) {
  auto cpu = kernels::CreateCpuBackend();
  auto loss = loss::Loss::Create(*cpu, JobOf(c.job), {c.head}, c.units, kRows);
  EXPECT_TRUE(loss.ok()) << loss.status();
  LossResult result;
  result.grad.assign(static_cast<size_t>(kRows * c.units), 0.0f);
  auto sum = loss->Compute(*cpu, batch.outputs.data(), batch.Targets(), kRows,
                           training ? result.grad.data() : nullptr, 8.0);
  EXPECT_TRUE(sum.ok()) << sum.status();
  result.sum = sum.ok() ? *sum : 0.0;
  return result;
}

LossResult RunOnStrict(const LossCase& c, const Batch& batch, bool training) {
  auto strict = kernels::CreateStrictDeviceBackend();
  auto loss = loss::Loss::Create(*strict, JobOf(c.job), {c.head}, c.units, kRows);
  EXPECT_TRUE(loss.ok()) << loss.status();
  const DeviceBatch device(*strict, batch);
  LossResult result;
  result.grad.assign(static_cast<size_t>(kRows * c.units), 0.0f);
  kernels::DeviceBuffer grad = ToDevice(*strict, result.grad);
  auto sum = loss->Compute(*strict, device.outputs.floats(), device.Targets(), kRows,
                           training ? grad.floats() : nullptr, 8.0);
  EXPECT_TRUE(sum.ok()) << sum.status();
  result.sum = sum.ok() ? *sum : 0.0;
  strict->CopyToHost(result.grad.data(), grad.data(), grad.bytes());
  EXPECT_TRUE(strict->Synchronize().ok());
  return result;
}

const LossCase kLossCases[] = {
    {"sparse_fused_weighted",
     "data { num_classes: 3 } loss { sparse_categorical_crossentropy { from_logits: false } } "
     "training { class_weight { key: 0 value: 2 } class_weight { key: 2 value: 0.5 } }",
     kernels::Activation::kSoftmax, 3, 3, 0, false},
    {"sparse_from_logits",
     "data { num_classes: 4 } loss { sparse_categorical_crossentropy { from_logits: true } }",
     kernels::Activation::kLinear, 4, 4, 0, false},
    {"categorical_smoothed_weighted",
     "data { num_classes: 3 label { kind: VECTOR size: 3 } } loss { categorical_crossentropy { "
     "from_logits: false label_smoothing: 0.1 } } training { class_weight { key: 1 value: 3 } }",
     kernels::Activation::kSoftmax, 3, 3, 3, true},
    {"categorical_from_logits_soft",
     "data { num_classes: 4 label { kind: VECTOR size: 4 } } loss { categorical_crossentropy { "
     "from_logits: true } }",
     kernels::Activation::kLinear, 4, 4, 4, false},
    {"mse_class_ids", "data { num_classes: 1 } loss { mean_squared_error {} }",
     kernels::Activation::kLinear, 1, 1, 0, false},
    {"mse_vectors",
     "data { num_classes: 3 label { kind: VECTOR size: 3 } } loss { mean_squared_error {} }",
     kernels::Activation::kLinear, 3, 3, 3, false},
    {"binary_logits_smoothed_weighted",
     "data { num_classes: 2 } loss { binary_crossentropy { from_logits: true label_smoothing: "
     "0.2 } } training { class_weight { key: 1 value: 4 } }",
     kernels::Activation::kLinear, 1, 2, 0, false},
    {"binary_probabilities_multilabel",
     "data { num_classes: 3 label { kind: VECTOR size: 3 } } loss { binary_crossentropy { "
     "from_logits: false label_smoothing: 0.1 } }",
     kernels::Activation::kSigmoid, 3, 3, 3, false},
};

TEST(StrictLossTest, EveryLossKindEqualsTheCpuBitwise) {
  for (const LossCase& c : kLossCases) {
    SCOPED_TRACE(c.name);
    Batch batch = MakeBatch(c.units, c.classes, c.width, c.one_hot);
    if (c.head == kernels::Activation::kSigmoid) {  // probabilities in (0, 1)
      for (float& p : batch.outputs) p = (p + 2.0f) / 4.0f * 0.9f + 0.05f;
    }
    for (bool training : {true, false}) {
      const LossResult cpu = RunOnCpu(c, batch, training);
      const LossResult strict = RunOnStrict(c, batch, training);
      EXPECT_EQ(Bits(strict.sum), Bits(cpu.sum)) << strict.sum << " vs " << cpu.sum;
      EXPECT_EQ(std::memcmp(strict.grad.data(), cpu.grad.data(), cpu.grad.size() * sizeof(float)),
                0);
      EXPECT_GT(cpu.sum, 0.0);
    }
  }
}

TEST(StrictLossTest, HostOutputIsTheDevicesFailedPrecondition) {
  auto strict = kernels::CreateStrictDeviceBackend();
  const LossCase& c = kLossCases[1];
  auto loss = loss::Loss::Create(*strict, JobOf(c.job), {c.head}, c.units, kRows);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const Batch batch = MakeBatch(c.units, c.classes, c.width, c.one_hot);
  const DeviceBatch device(*strict, batch);
  auto sum = loss->Compute(*strict, batch.outputs.data(), device.Targets(), kRows, nullptr, 1.0);
  EXPECT_EQ(sum.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(sum.status().message().find("not device memory"), std::string::npos) << sum.status();
}

TEST(StrictLossTest, HostReadsCopyRoundTripAndNameTheirErrors) {
  auto strict = kernels::CreateStrictDeviceBackend();
  auto reads = loss::HostReads::Create(*strict, 64, "test reads");
  ASSERT_TRUE(reads.ok()) << reads.status();
  const std::vector<float> values = {1.5f, -2.0f, 3.25f};
  const kernels::DeviceBuffer device = ToDevice(*strict, values);
  const float* host = reads->Read(*strict, device.floats(), 3);
  ASSERT_TRUE(reads->Wait(*strict).ok());
  EXPECT_EQ(std::vector<float>(host, host + 3), values);
  // Beyond the capacity: null, and Wait names the buffer.
  EXPECT_EQ(reads->Read(*strict, device.floats(), 17), nullptr);
  const Status overflow = reads->Wait(*strict);
  EXPECT_EQ(overflow.code(), StatusCode::kInternal);
  EXPECT_NE(overflow.message().find("test reads"), std::string::npos) << overflow;
  // A host array is not device memory: the copy is refused.
  reads->Read(*strict, values.data(), 3);
  EXPECT_EQ(reads->Wait(*strict).code(), StatusCode::kFailedPrecondition);
}

TEST(StrictLossTest, MirroredArrayUploadsWhatTheHostFilled) {
  auto strict = kernels::CreateStrictDeviceBackend();
  auto array = loss::MirroredArray::Create(*strict, 2 * sizeof(float), "test array");
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_NE(array->host(), array->device());
  array->host_as<float>()[0] = 4.0f;
  array->host_as<float>()[1] = -1.0f;
  array->Upload(*strict, 2 * sizeof(float));
  std::vector<float> back(2);
  strict->CopyToHost(back.data(), array->device(), 2 * sizeof(float));
  ASSERT_TRUE(strict->Synchronize().ok());
  EXPECT_EQ(back, (std::vector<float>{4.0f, -1.0f}));
  // On the CPU backend the host fills the device array itself.
  auto cpu = kernels::CreateCpuBackend();
  auto direct = loss::MirroredArray::Create(*cpu, 8, "test array");
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->host(), direct->device());
}

struct MetricCase {
  const char* name;
  const char* job;
  int64_t units, classes, width;
  bool one_hot;
};

// CorrectCount and the summed metrics of `batch` on `backend`.
struct MetricResult {
  int64_t correct = 0;
  std::vector<double> sums;
};

MetricResult RunMetrics(kernels::KernelBackend& backend, const MetricCase& c, const float* outputs,
                        const loss::Targets& targets) {
  auto set = metrics::MetricSet::Create(backend, JobOf(c.job), c.units, kRows);
  EXPECT_TRUE(set.ok()) << set.status();
  MetricResult result;
  if (!set.ok()) return result;
  result.sums.assign(static_cast<size_t>(set->num_sums()), 0.0);
  auto correct = set->CorrectCount(backend, outputs, targets, kRows);
  EXPECT_TRUE(correct.ok()) << correct.status();
  result.correct = correct.ok() ? *correct : -1;
  EXPECT_TRUE(set->Accumulate(backend, outputs, targets, kRows, result.sums.data()).ok());
  // Twice, as batches add up (the copy buffer is reused).
  EXPECT_TRUE(set->Accumulate(backend, outputs, targets, kRows, result.sums.data()).ok());
  return result;
}

TEST(StrictLossTest, MetricsEqualTheCpuBitwise) {
  const MetricCase cases[] = {
      {"binary_class_ids",
       "data { num_classes: 2 } loss { binary_crossentropy { from_logits: true } } "
       "metrics: 'accuracy' metrics: 'auc' metrics: 'mae' metrics: 'precision' "
       "metrics: 'recall' metrics: 'binary_accuracy'",
       1, 2, 0, false},
      {"sparse_wide",
       "data { num_classes: 6 } loss { sparse_categorical_crossentropy { from_logits: true } } "
       "metrics: 'accuracy' metrics: 'sparse_top_k_categorical_accuracy' top_k: 2",
       6, 6, 0, false},
      {"vectors",
       "data { num_classes: 4 label { kind: VECTOR size: 4 } } loss { categorical_crossentropy { "
       "from_logits: true } } metrics: 'accuracy' metrics: 'categorical_accuracy' "
       "metrics: 'top_k_categorical_accuracy' top_k: 2",
       4, 4, 4, true},
  };
  for (const MetricCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Batch batch = MakeBatch(c.units, c.classes, c.width, c.one_hot);
    auto cpu = kernels::CreateCpuBackend();
    const MetricResult expected = RunMetrics(*cpu, c, batch.outputs.data(), batch.Targets());
    auto strict = kernels::CreateStrictDeviceBackend();
    const DeviceBatch device(*strict, batch);
    const MetricResult actual = RunMetrics(*strict, c, device.outputs.floats(), device.Targets());
    EXPECT_EQ(actual.correct, expected.correct);
    ASSERT_EQ(actual.sums.size(), expected.sums.size());
    for (size_t i = 0; i < expected.sums.size(); ++i) {
      EXPECT_EQ(Bits(actual.sums[i]), Bits(expected.sums[i])) << i;
    }
    EXPECT_TRUE(strict->CheckErrors().ok());
  }
}

}  // namespace
}  // namespace shardtrain
