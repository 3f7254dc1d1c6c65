// The parity table's cases (tests/kernels/parity_cases.h). Tolerances are for
// CUDA (the strict device runs bitwise): 0 where both backends perform the
// same float operations in the same order (elementwise ops, layout, pooling,
// dropout, initializers, batch-norm elementwise: cnn_elements.h, nvcc
// --fmad=false); 1e-5 for cuBLAS GEMMs and libm-based ops; 1e-4 for Conv2D's
// dw and db (sums over every output pixel, chunked differently); 1e-6 for
// batch-norm moments and gradient sums (double sums in another order). Sizes
// stay small: the table runs in CI on the strict device.
#include "tests/kernels/parity_cases.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "tests/gpu/cnn_cases.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels::testing {
namespace {

constexpr double kBitwise = 0;
constexpr double kGemm = 1e-5;
constexpr double kLibm = 1e-5;
constexpr double kConvWeightSums = 1e-4;
constexpr double kDoubleSums = 1e-6;

void DenseCases(std::vector<ParityCase>& t) {
  t.push_back({"dense_32x784x128", [](ParityRun& r) {
                 const int64_t batch = 32, in = 784, out = 128;
                 float* x = r.In(RandomVector(batch * in, 1));
                 float* w = r.In(RandomVector(in * out, 2));
                 float* b = r.In(RandomVector(out, 3));
                 float* dy = r.In(RandomVector(batch * out, 4));
                 PARITY_OP(r, DenseForward, x, w, b, r.Out("y", batch * out, kGemm), batch, in,
                           out);
                 PARITY_OP(r, DenseBackward, x, w, dy, r.Out("dx", batch * in, kGemm),
                           r.Out("dw", in * out, kGemm), r.Out("db", out, kGemm), batch, in, out);
               }});
  t.push_back({"dense_7x3x5_without_bias", [](ParityRun& r) {
                 const int64_t batch = 7, in = 3, out = 5;
                 float* x = r.In(RandomVector(batch * in, 5));
                 float* w = r.In(RandomVector(in * out, 6));
                 float* dy = r.In(RandomVector(batch * out, 7));
                 PARITY_OP(r, DenseForward, x, w, nullptr, r.Out("y", batch * out, kGemm), batch,
                           in, out);
                 PARITY_OP(r, DenseBackward, x, w, dy, nullptr, r.Out("dw", in * out, kGemm),
                           nullptr, batch, in, out);
               }});
  t.push_back({"bias_add_and_grad_33x17", [](ParityRun& r) {
                 const int64_t rows = 33, cols = 17;
                 float* b = r.In(RandomVector(cols, 8));
                 PARITY_OP(r, BiasAdd, r.InOut("y", RandomVector(rows * cols, 9), kBitwise), b,
                           rows, cols);
                 PARITY_OP(r, BiasGrad, r.In(RandomVector(rows * cols, 10)),
                           r.Out("db", cols, kLibm), rows, cols);
               }});
}

void ConvCases(std::vector<ParityCase>& t) {
  int index = 0;
  for (const WindowCase& c : WindowCases()) {
    t.push_back({"conv2d_" + std::to_string(index++), [c](ParityRun& r) {
                   const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/false);
                   const int64_t x_n = g.batch * g.in_h * g.in_w * g.in_c;
                   const int64_t w_n = g.window_h * g.window_w * g.in_c * g.out_c;
                   const int64_t y_n = g.batch * g.out_h * g.out_w * g.out_c;
                   float* x = r.In(RandomVector(x_n, 21));
                   float* w = r.In(RandomVector(w_n, 22));
                   float* b = r.In(RandomVector(g.out_c, 23));
                   float* dy = r.In(RandomVector(y_n, 24));
                   PARITY_OP(r, Conv2DForward, g, x, w, b, r.Out("y", y_n, kGemm));
                   PARITY_OP(r, Conv2DBackward, g, x, w, dy, r.Out("dx", x_n, kGemm),
                             r.Out("dw", w_n, kConvWeightSums),
                             r.Out("db", g.out_c, kConvWeightSums));
                 }});
  }
  t.push_back({"conv2d_without_bias_or_dx", [](ParityRun& r) {
                 const Conv2DGeometry g = MakeGeometry(WindowCases()[1], /*pooling=*/false);
                 const int64_t w_n = g.window_h * g.window_w * g.in_c * g.out_c;
                 const int64_t y_n = g.batch * g.out_h * g.out_w * g.out_c;
                 float* x = r.In(RandomVector(g.batch * g.in_h * g.in_w * g.in_c, 25));
                 float* w = r.In(RandomVector(w_n, 26));
                 PARITY_OP(r, Conv2DForward, g, x, w, nullptr, r.Out("y", y_n, kGemm));
                 PARITY_OP(r, Conv2DBackward, g, x, w, r.In(RandomVector(y_n, 27)), nullptr,
                           r.Out("dw", w_n, kConvWeightSums), nullptr);
               }});
}

void PoolingCases(std::vector<ParityCase>& t) {
  int index = 0;
  for (const WindowCase& c : WindowCases()) {
    t.push_back({"pooling_" + std::to_string(index++), [c](ParityRun& r) {
                   const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/true);
                   const int64_t x_n = g.batch * g.in_h * g.in_w * g.in_c;
                   const int64_t y_n = g.batch * g.out_h * g.out_w * g.in_c;
                   float* x = r.In(TiedValues(x_n, 25));  // ties: first-maximum routing
                   float* dy = r.In(RandomVector(y_n, 26));
                   PARITY_OP(r, MaxPool2DForward, g, x, r.Out("max_y", y_n, kBitwise));
                   PARITY_OP(r, MaxPool2DBackward, g, x, dy, r.Out("max_dx", x_n, kBitwise));
                   PARITY_OP(r, AvgPool2DForward, g, x, r.Out("avg_y", y_n, kBitwise));
                   PARITY_OP(r, AvgPool2DBackward, g, dy, r.Out("avg_dx", x_n, kBitwise));
                 }});
  }
}

// Biased moments of x (rows, channels) in double, as floats: the ops after
// BatchNormMoments read these, so each op is compared on its own.
std::pair<std::vector<float>, std::vector<float>> HostMoments(const std::vector<float>& x,
                                                              int64_t rows, int64_t channels) {
  std::vector<float> mean(channels), variance(channels);
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0, square = 0;
    for (int64_t i = 0; i < rows; ++i) sum += x[i * channels + c];
    const double m = sum / rows;
    for (int64_t i = 0; i < rows; ++i)
      square += (x[i * channels + c] - m) * (x[i * channels + c] - m);
    mean[c] = static_cast<float>(m);
    variance[c] = static_cast<float>(square / rows);
  }
  return {mean, variance};
}

// Rows not a multiple of CUDA's 256-thread reduction, one row, and 4096 rows
// (CUDA's reduction over several blocks).
void BatchNormCases(std::vector<ParityCase>& t) {
  for (const auto& [rows, channels] :
       std::vector<std::pair<int64_t, int64_t>>{{2 * 13 * 13, 32}, {1000, 3}, {1, 5}, {4096, 64}}) {
    const std::string name = "batch_norm_" + std::to_string(rows) + "x" + std::to_string(channels);
    t.push_back({name, [rows = rows, channels = channels](ParityRun& r) {
                   const int64_t n = rows * channels;
                   const auto host_x = RandomVector(n, 31, -2, 3);
                   const auto [host_mean, host_variance] = HostMoments(host_x, rows, channels);
                   float* x = r.In(host_x);
                   float* dy = r.In(RandomVector(n, 32));
                   float* gamma = r.In(RandomVector(channels, 33, 0.5f, 1.5f));
                   float* beta = r.In(RandomVector(channels, 34));
                   float* mean = r.In(host_mean);
                   float* variance = r.In(host_variance);
                   PARITY_OP(r, BatchNormMoments, x, rows, channels,
                             r.Out("mean", channels, kDoubleSums),
                             r.Out("variance", channels, kDoubleSums));
                   PARITY_OP(r, BatchNormForward, x, mean, variance, gamma, beta, 1e-3f,
                             r.Out("y", n, kBitwise), rows, channels);
                   PARITY_OP(r, BatchNormForward, x, mean, variance, nullptr, nullptr, 1e-3f,
                             r.Out("y_plain", n, kBitwise), rows, channels);
                   PARITY_OP(r, BatchNormGradSums, x, dy, mean, variance, 1e-3f,
                             r.Out("dgamma", channels, kDoubleSums),
                             r.Out("dbeta", channels, kDoubleSums), rows, channels);
                   float* dgamma = r.In(RandomVector(channels, 35));
                   float* dbeta = r.In(RandomVector(channels, 36));
                   PARITY_OP(r, BatchNormInputGrad, x, dy, mean, variance, gamma, dgamma, dbeta,
                             1e-3f, 2.0 * rows, r.Out("dx", n, kBitwise), rows, channels);
                 }});
  }
}

void LayoutCases(std::vector<ParityCase>& t) {
  t.push_back({"add_in_place_and_column_copies", [](ParityRun& r) {
                 const int64_t rows = 300, left = 7, right = 12, cols = left + right;
                 float* a = r.In(RandomVector(rows * left, 41));
                 float* b = r.In(RandomVector(rows * right, 42));
                 float* sum = r.InOut("sum", RandomVector(rows * left, 43), kBitwise);
                 PARITY_OP(r, Add, sum, a, sum, rows * left);  // y aliases a
                 float* joined = r.Out("joined", rows * cols, kBitwise);
                 PARITY_OP(r, CopyColumnsInto, a, rows, left, joined, cols, 0);
                 PARITY_OP(r, CopyColumnsInto, b, rows, right, joined, cols, left);
                 PARITY_OP(r, CopyColumnsFrom, joined, rows, cols, left,
                           r.Out("back", rows * right, kBitwise), right);
               }});
}

void ActivationCases(std::vector<ParityCase>& t) {
  for (Activation act :
       {Activation::kLinear, Activation::kRelu, Activation::kSigmoid, Activation::kTanh,
        Activation::kSoftmax, Activation::kGelu, Activation::kGeluTanh}) {
    t.push_back({"activation_" + std::string(ActivationName(act)), [act](ParityRun& r) {
                   const int64_t rows = 64, cols = 513;
                   // relu and linear involve no rounding: exact on every backend.
                   const double tol =
                       act == Activation::kRelu || act == Activation::kLinear ? kBitwise : kLibm;
                   float* x = r.In(RandomVector(rows * cols, 5, -3, 3));
                   float* dy = r.In(RandomVector(rows * cols, 6));
                   float* y = r.Out("y", rows * cols, tol);
                   PARITY_OP(r, ActivationForward, act, x, y, rows, cols);
                   float* through = BackwardTakesInput(act) ? x : y;
                   PARITY_OP(r, ActivationBackward, act, through, dy, r.Out("dx", rows * cols, tol),
                             rows, cols);
                 }});
  }
}

void DropoutCases(std::vector<ParityCase>& t) {
  for (int64_t n : {3, 16389}) {
    t.push_back({"dropout_" + std::to_string(n), [n](ParityRun& r) {
                   const DropoutKey key{0x1234567890abcdefull, 42, 3, (1ull << 33) + 1};
                   float* x = r.In(RandomVector(n, 7));
                   uint8_t* mask = r.OutBytes("mask", n);
                   PARITY_OP(r, DropoutForward, key, 0.2f, x, r.Out("y", n, kBitwise), mask, n);
                   PARITY_OP(r, DropoutBackward, 0.2f, mask, r.In(RandomVector(n, 8)),
                             r.Out("dx", n, kBitwise), n);
                 }});
  }
}

// The ops the interface allows in place (y == x, dx == dy), as the trainer calls them.
void InPlaceCases(std::vector<ParityCase>& t) {
  t.push_back({"in_place_ops", [](ParityRun& r) {
                 const int64_t rows = 40, cols = 37, n = rows * cols;
                 float* h = r.InOut("sigmoid_then_dropout", RandomVector(n, 51, -3, 3), kLibm);
                 PARITY_OP(r, ActivationForward, Activation::kSigmoid, h, h, rows, cols);
                 uint8_t* mask = r.OutBytes("mask", n);
                 PARITY_OP(r, DropoutForward, DropoutKey{9, 2, 1, 0}, 0.3f, h, h, mask, n);
                 float* dy = r.InOut("dropout_then_relu_grad", RandomVector(n, 52), kBitwise);
                 PARITY_OP(r, DropoutBackward, 0.3f, mask, dy, dy, n);
                 PARITY_OP(r, ActivationBackward, Activation::kRelu, r.In(RandomVector(n, 53)), dy,
                           dy, rows, cols);
                 const auto host_x = RandomVector(n, 54);
                 const auto [mean, variance] = HostMoments(host_x, rows, cols);
                 float* x = r.InOut("batch_norm", host_x, kBitwise);
                 PARITY_OP(r, BatchNormForward, x, r.In(mean), r.In(variance),
                           r.In(RandomVector(cols, 55)), r.In(RandomVector(cols, 56)), 1e-3f, x,
                           rows, cols);
               }});
}

}  // namespace

std::vector<ParityCase> ParityCases() {
  std::vector<ParityCase> table;
  DenseCases(table);
  ConvCases(table);
  PoolingCases(table);
  BatchNormCases(table);
  LayoutCases(table);
  ActivationCases(table);
  DropoutCases(table);
  InPlaceCases(table);
  LossCases(table);
  OptimizerAndInitializerCases(table);
  return table;
}

}  // namespace shardtrain::kernels::testing
