// Parameter gradients against central differences (gradient_check_util.h)
// for two cases the CNN tests do not reach: an Activation layer over a rank-3
// tensor (per pixel, softmax over the channels), and Dropout inside a
// branching graph in training mode, where a fixed ForwardMode (seed, step)
// makes every evaluation draw the same masks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/worker/gradient_check_util.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

using gradient_check::CreateModel;
using gradient_check::ExpectGradientsMatchCentralDifferences;
using gradient_check::Uniform;
using model::ForwardMode;

// Conv2D -> Activation on its 3x3x3 output -> Flatten -> Dense.
TEST(RankThreeActivationGradientTest, RankThreeActivationGradientsMatchCentralDifferences) {
  for (const char* activation : {"RELU", "SIGMOID", "TANH", "GELU", "GELU_APPROXIMATE", "SOFTMAX"}) {
    SCOPED_TRACE(activation);
    auto model = CreateModel(std::string("input_shape: [5, 5, 2] "
                                         "layers { conv2d { filters: 3 kernel_size: [3] } } "
                                         "layers { activation { activation: ") +
                                 activation +
                                 " } } "
                                 "layers { flatten {} } layers { dense { units: 2 } }",
                             2);
    ASSERT_NE(model, nullptr);
    ASSERT_EQ(model->layers()[1].output_shape, (Shape{3, 3, 3}));
    auto backend = kernels::CreateCpuBackend();
    model->Initialize(*backend, 18);  // no ReLU input within h of its kink
    const std::vector<float> x = Uniform(19, 2 * 5 * 5 * 2, 1.0f);
    ExpectGradientsMatchCentralDifferences(*model, x, 2, 1e-3f, 1e-3);
  }
}

// conv_a feeds a Dropout -> Conv2D path and, unchanged, the Add; a second
// Dropout reads the Add. Both are active (rate 0.5) in every evaluation.
constexpr char kBranchingDropout[] =
    "input_shape: [6, 6, 2] "
    "layers { name: 'conv_a' conv2d { filters: 3 kernel_size: [3] padding: SAME "
    "  activation: TANH } } "
    "layers { name: 'drop_a' dropout { rate: 0.5 } } "
    "layers { name: 'conv_b' conv2d { filters: 3 kernel_size: [3] padding: SAME } } "
    "layers { name: 'add' inputs: ['conv_b', 'conv_a'] add {} } "
    "layers { name: 'drop_b' dropout { rate: 0.5 } } "
    "layers { flatten {} } layers { dense { units: 2 } }";

TEST(GraphDropoutGradientTest, BranchingGraphGradientsMatchCentralDifferences) {
  auto model = CreateModel(kBranchingDropout, 2);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 23);
  const std::vector<float> x = Uniform(29, 2 * 6 * 6 * 2, 1.0f);
  const ForwardMode training{true, 31, 4, 0};
  // The masks drop something: training differs from inference, and repeats itself.
  const int64_t n = 2 * model->output_size();
  const float* y = model->Forward(*backend, x.data(), 2, training, false);
  const std::vector<float> first(y, y + n);
  y = model->Forward(*backend, x.data(), 2, training, false);
  EXPECT_EQ(std::vector<float>(y, y + n), first);
  y = model->Forward(*backend, x.data(), 2, ForwardMode{}, false);
  EXPECT_NE(std::vector<float>(y, y + n), first);
  ExpectGradientsMatchCentralDifferences(*model, x, 2, 1e-3f, 1e-3, training);
}

}  // namespace
}  // namespace shardtrain
