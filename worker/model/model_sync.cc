// Synchronized BatchNormalization: the cross-rank sums of its statistics.
//
// Moments: Keras (ops.moments(synchronized=True)) sums each replica's count,
// sum and sum of squares and takes E[x^2] - E[x]^2 in float32. Here each rank
// contributes its count n, n * mean and n * variance of its own rows (the
// backend's two-pass moments) and n * mean^2, summed in double: the global
// mean is Σ n·mean / N and the biased variance Σ n·variance / N plus the
// variance of the rank means (Σ n·mean² / N - mean², clamped at 0), the same
// quantity with no cancellation inside a rank's rows.
//
// Gradients: the input gradient of batch-moment normalization needs dgamma
// and dbeta over the whole global batch; the layer's own gamma/beta gradients
// stay this rank's share, as the trainer's gradient allreduce sums them.
#include <algorithm>

#include "worker/model/model.h"

namespace shardtrain::model {

bool Model::SynchronizesMoments(const Layer& layer) {
  return layer.kind == LayerKind::kBatchNormalization && layer.synchronized && layer.trainable;
}

bool Model::SynchronizesGradSums(const Layer& layer) {
  return SynchronizesMoments(layer) && !layer.grad_input.empty();
}

void Model::SumOverRanks(double* values, int64_t n) {
  if (!cross_rank_sum_ || !cross_rank_status_.ok()) return;
  cross_rank_status_ = cross_rank_sum_(values, n);
}

Status Model::TakeCrossRankStatus() {
  Status status = std::move(cross_rank_status_);
  cross_rank_status_ = OkStatus();
  return status;
}

void Model::SynchronizeMoments(Layer& layer, int64_t rows) {
  const size_t channels = layer.batch_mean.size();
  double* sums = layer.cross_rank_sums.data();
  const double n = static_cast<double>(rows);
  sums[0] = n;
  for (size_t c = 0; c < channels; ++c) {
    // A rank with no rows adds zeros (its moment buffers may hold anything).
    const double mean = rows > 0 ? layer.batch_mean[c] : 0.0;
    const double variance = rows > 0 ? layer.batch_variance[c] : 0.0;
    sums[1 + c] = n * mean;
    sums[1 + channels + c] = n * variance;
    sums[1 + 2 * channels + c] = n * mean * mean;
  }
  SumOverRanks(sums, static_cast<int64_t>(1 + 3 * channels));
  layer.global_rows = sums[0];
  if (sums[0] <= 0) return;
  for (size_t c = 0; c < channels; ++c) {
    const double mean = sums[1 + c] / sums[0];
    const double between = std::max(0.0, sums[1 + 2 * channels + c] / sums[0] - mean * mean);
    layer.batch_mean[c] = static_cast<float>(mean);
    layer.batch_variance[c] = static_cast<float>(sums[1 + channels + c] / sums[0] + between);
  }
}

std::pair<const float*, const float*> Model::SynchronizeGradSums(Layer& layer, const float* dgamma,
                                                                 const float* dbeta) {
  const size_t channels = layer.batch_mean.size();
  double* sums = layer.cross_rank_sums.data();
  for (size_t c = 0; c < channels; ++c) {
    sums[c] = dgamma != nullptr ? dgamma[c] : 0.0;
    sums[channels + c] = dbeta != nullptr ? dbeta[c] : 0.0;
  }
  SumOverRanks(sums, static_cast<int64_t>(2 * channels));
  float* global = layer.channel_scratch.data() + 3 * channels;
  for (size_t i = 0; i < 2 * channels; ++i) global[i] = static_cast<float>(sums[i]);
  return {global, global + channels};
}

void Model::ParticipateWithoutRows() {
  for (Layer& layer : layers_) {
    if (SynchronizesMoments(layer)) SynchronizeMoments(layer, 0);
  }
  for (size_t k = layers_.size(); k-- > 0;) {
    if (SynchronizesGradSums(layers_[k])) SynchronizeGradSums(layers_[k], nullptr, nullptr);
  }
}

}  // namespace shardtrain::model
