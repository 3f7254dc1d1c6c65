// The parity table's losses, metrics, optimizers and initializers
// (tests/kernels/parity_cases.h; tolerances as in parity_cases.cc).
#include <string>
#include <vector>

#include "tests/kernels/parity_cases.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels::testing {
namespace {

constexpr double kBitwise = 0;
constexpr double kLibm = 1e-5;

std::vector<int32_t> Labels(int64_t batch, int64_t classes) {
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) labels[b] = static_cast<int32_t>((b * 7 + 3) % classes);
  return labels;
}

void SoftmaxCases(std::vector<ParityCase>& t) {
  t.push_back({"sparse_softmax_cross_entropy_and_accuracy", [](ParityRun& r) {
                 const int64_t batch = 300, classes = 10;
                 float* logits = r.In(RandomVector(batch * classes, 8, -4, 4));
                 int32_t* labels = r.In(Labels(batch, classes));
                 PARITY_OP(r, SparseSoftmaxCrossEntropyForward, logits, labels,
                           r.Out("losses", batch, kLibm), batch, classes);
                 PARITY_OP(r, SparseSoftmaxCrossEntropyBackward, logits, labels, 1.0f / batch,
                           r.Out("dlogits", batch * classes, kLibm), batch, classes);
                 r.HostValue("correct",
                             PARITY_OP(r, SparseAccuracyCount, logits, labels, batch, classes));
               }});
  t.push_back({"softmax_cross_entropy_soft_labels", [](ParityRun& r) {
                 const int64_t batch = 97, classes = 13;
                 std::vector<float> soft = RandomVector(batch * classes, 9, 0, 1);
                 for (int64_t b = 0; b < batch; ++b) {  // each row sums to 1
                   float sum = 0;
                   for (int64_t c = 0; c < classes; ++c) sum += soft[b * classes + c];
                   for (int64_t c = 0; c < classes; ++c) soft[b * classes + c] /= sum;
                 }
                 float* logits = r.In(RandomVector(batch * classes, 10, -5, 5));
                 float* labels = r.In(soft);
                 PARITY_OP(r, SoftmaxCrossEntropyForward, logits, labels,
                           r.Out("losses", batch, kLibm), batch, classes);
                 PARITY_OP(r, SoftmaxCrossEntropyBackward, logits, labels, 0.5f,
                           r.Out("dlogits", batch * classes, kLibm), batch, classes);
               }});
}

void RegressionCases(std::vector<ParityCase>& t) {
  t.push_back({"mean_squared_error", [](ParityRun& r) {
                 const int64_t batch = 65, dim = 9;
                 float* pred = r.In(RandomVector(batch * dim, 11, -3, 3));
                 float* target = r.In(RandomVector(batch * dim, 12, -3, 3));
                 PARITY_OP(r, MeanSquaredErrorForward, pred, target, r.Out("losses", batch, kLibm),
                           batch, dim);
                 PARITY_OP(r, MeanSquaredErrorBackward, pred, target, 1.0f / batch,
                           r.Out("dpred", batch * dim, kLibm), batch, dim);
               }});
  for (const bool from_logits : {true, false}) {
    t.push_back({std::string("binary_cross_entropy_") + (from_logits ? "logits" : "probabilities"),
                 [from_logits](ParityRun& r) {
                   const int64_t batch = 300, dim = 3;
                   float* output = r.In(from_logits ? RandomVector(batch * dim, 19, -20, 20)
                                                    : RandomVector(batch * dim, 20, -0.1f, 1.1f));
                   float* target = r.In(RandomVector(batch * dim, 17, 0, 1));
                   PARITY_OP(r, BinaryCrossEntropyForward, output, target, from_logits,
                             r.Out("losses", batch, kLibm), batch, dim);
                   PARITY_OP(r, BinaryCrossEntropyBackward, output, target, from_logits,
                             1.0f / batch, r.Out("doutput", batch * dim, kLibm), batch, dim);
                 }});
  }
  t.push_back({"scale_rows", [](ParityRun& r) {
                 const int64_t rows = 300, cols = 7;
                 float* scale = r.In(RandomVector(rows, 18, 0, 3));
                 PARITY_OP(r, ScaleRows, r.InOut("x", RandomVector(rows * cols, 21), kBitwise),
                           scale, rows, cols);
               }});
}

// One optimizer update over a flat buffer of n weights from the same start.
void OptimizerCases(std::vector<ParityCase>& t) {
  constexpr int64_t n = 40711;
  t.push_back({"adam", [](ParityRun& r) {
                 const AdamParams adam{1e-3f, 0.9f, 0.999f, 1e-7f, 3};
                 PARITY_OP(r, AdamUpdate, adam, r.InOut("weights", RandomVector(n, 9), kLibm),
                           r.In(RandomVector(n, 10)), r.InOut("m", RandomVector(n, 11), kLibm),
                           r.InOut("v", RandomVector(n, 12, 0, 1), kLibm), n);
               }});
  for (const float momentum : {0.0f, 0.9f}) {
    t.push_back({momentum == 0 ? "sgd" : "sgd_nesterov_momentum", [momentum](ParityRun& r) {
                   const SgdParams sgd{0.01f, momentum, momentum > 0};
                   float* velocity =
                       momentum > 0 ? r.InOut("velocity", RandomVector(n, 13), kLibm) : nullptr;
                   PARITY_OP(r, SgdUpdate, sgd, r.InOut("weights", RandomVector(n, 9), kLibm),
                             r.In(RandomVector(n, 10)), velocity, n);
                 }});
    t.push_back({momentum == 0 ? "rmsprop" : "rmsprop_momentum", [momentum](ParityRun& r) {
                   const RmspropParams rms{1e-3f, 0.9f, 1e-7f, momentum > 0 ? 0.5f : 0.0f};
                   float* slot =
                       momentum > 0 ? r.InOut("momentum", RandomVector(n, 14), kLibm) : nullptr;
                   PARITY_OP(r, RmspropUpdate, rms, r.InOut("weights", RandomVector(n, 9), kLibm),
                             r.In(RandomVector(n, 10)),
                             r.InOut("mean_square", RandomVector(n, 15, 0, 1), kLibm), slot, n);
                 }});
  }
}

void InitializerCases(std::vector<ParityCase>& t) {
  t.push_back({"glorot_uniform_and_fill", [](ParityRun& r) {
                 PARITY_OP(r, GlorotUniform, 77, 2, r.Out("dense_kernel", 784 * 51, kBitwise), 784,
                           51);
                 // A 3x3x16x32 conv kernel: fan_in 144, fan_out 288, as Keras computes them.
                 const int64_t n = 3 * 3 * 16 * 32;
                 PARITY_OP(r, GlorotUniformN, 77, 5, r.Out("conv_kernel", n, kBitwise), n,
                           3 * 3 * 16, 3 * 3 * 32);
                 PARITY_OP(r, Fill, r.Out("filled", 1001, kBitwise), -0.25f, 1001);
               }});
}

}  // namespace

void LossCases(std::vector<ParityCase>& t) {
  SoftmaxCases(t);
  RegressionCases(t);
}

void OptimizerAndInitializerCases(std::vector<ParityCase>& t) {
  OptimizerCases(t);
  InitializerCases(t);
}

}  // namespace shardtrain::kernels::testing
