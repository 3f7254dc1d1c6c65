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
#include <utility>

#include "worker/model/model.h"

namespace shardtrain::model {

bool Model::SynchronizesMoments(const Layer& layer) {
  return layer.kind == LayerKind::kBatchNormalization && layer.synchronized && layer.trainable;
}

bool Model::SynchronizesGradSums(const Layer& layer) {
  return SynchronizesMoments(layer) && !layer.grad_input.empty();
}

// After a failed sum the later ones are still made (their results unused),
// so this rank's collectives stay in step with ranks whose sum succeeded.
void Model::SumOverRanks(double* values, int64_t n) {
  if (!cross_rank_sum_) return;
  Status status = cross_rank_sum_(values, n);
  if (cross_rank_status_.ok()) cross_rank_status_ = std::move(status);
}

Status Model::TakeCrossRankStatus() {
  Status status = std::move(cross_rank_status_);
  cross_rank_status_ = OkStatus();
  return status;
}

// The moments are device memory: read and written through host views
// (model_host_staging.cc), slots [0, 2 * channels) of the staging.
void Model::SynchronizeMoments(Layer& layer, int64_t rows) {
  const int64_t channels = layer.channels;
  double* sums = layer.cross_rank_sums.data();
  const double n = static_cast<double>(rows);
  // A rank with no rows adds zeros (its moment buffers may hold anything).
  const float* batch_mean = rows > 0 ? HostView(layer.batch_mean.floats(), channels, 0) : nullptr;
  const float* batch_variance =
      rows > 0 ? HostView(layer.batch_variance.floats(), channels, channels) : nullptr;
  sums[0] = n;
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = rows > 0 ? batch_mean[c] : 0.0;
    const double variance = rows > 0 ? batch_variance[c] : 0.0;
    sums[1 + c] = n * mean;
    sums[1 + channels + c] = n * variance;
    sums[1 + 2 * channels + c] = n * mean * mean;
  }
  SumOverRanks(sums, 1 + 3 * channels);
  layer.global_rows = sums[0];
  if (sums[0] <= 0) return;
  const bool in_place = backend_->host_reads_device_memory();
  float* mean_out = in_place ? layer.batch_mean.floats() : host_staging_.floats();
  float* variance_out =
      in_place ? layer.batch_variance.floats() : host_staging_.floats() + channels;
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = sums[1 + c] / sums[0];
    const double between = std::max(0.0, sums[1 + 2 * channels + c] / sums[0] - mean * mean);
    mean_out[c] = static_cast<float>(mean);
    variance_out[c] = static_cast<float>(sums[1 + channels + c] / sums[0] + between);
  }
  WriteBack(layer.batch_mean.floats(), mean_out, channels);
  WriteBack(layer.batch_variance.floats(), variance_out, channels);
}

// dgamma and dbeta (device memory) are read through host views at slots
// [0, 2 * channels); the global sums are written at [2 * channels, 4 * channels)
// and copied to the scratch's last 2 * channels.
std::pair<const float*, const float*> Model::SynchronizeGradSums(Layer& layer, const float* dgamma,
                                                                 const float* dbeta) {
  const int64_t channels = layer.channels;
  double* sums = layer.cross_rank_sums.data();
  const float* dgamma_host = dgamma != nullptr ? HostView(dgamma, channels, 0) : nullptr;
  const float* dbeta_host = dbeta != nullptr ? HostView(dbeta, channels, channels) : nullptr;
  for (int64_t c = 0; c < channels; ++c) {
    sums[c] = dgamma_host != nullptr ? dgamma_host[c] : 0.0;
    sums[channels + c] = dbeta_host != nullptr ? dbeta_host[c] : 0.0;
  }
  SumOverRanks(sums, 2 * channels);
  float* global = layer.channel_scratch.floats() + 3 * channels;
  float* global_host =
      backend_->host_reads_device_memory() ? global : host_staging_.floats() + 2 * channels;
  for (int64_t i = 0; i < 2 * channels; ++i) global_host[i] = static_cast<float>(sums[i]);
  WriteBack(global, global_host, 2 * channels);
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
