// Model's host views of device memory: the model's host math (kernel
// regularizers, BatchNormalization's moving statistics, synchronized
// BatchNormalization's cross-rank sums) reads device memory in place on a
// host-readable backend (the CPU: no copies), and through copies into one
// pinned staging buffer, allocated by Create, on any other backend.
#include <algorithm>

#include "worker/model/model.h"

namespace shardtrain::model {

int64_t Model::HostStagingFloats() const {
  if (backend_->host_reads_device_memory()) return 0;
  int64_t floats = 0;
  for (const Layer& layer : layers_) {
    if (layer.kind == LayerKind::kBatchNormalization) floats = std::max(floats, 4 * layer.channels);
    if ((layer.kind == LayerKind::kDense || layer.kind == LayerKind::kConv2D) &&
        (layer.l1 != 0 || layer.l2 != 0)) {
      const int64_t n = parameters_.variable(layer.kernel_variable).shape.num_elements();
      floats = std::max(floats, 2 * n);
    }
  }
  return floats;
}

float* Model::HostView(const float* device, int64_t n, int64_t slot) const {
  if (backend_->host_reads_device_memory()) return const_cast<float*>(device);
  float* view = host_staging_.floats() + slot;
  backend_->CopyToHost(view, device, n * static_cast<int64_t>(sizeof(float)));
  Status status = backend_->Synchronize();
  if (!status.ok() && host_copy_status_.ok()) host_copy_status_ = std::move(status);
  return view;
}

void Model::WriteBack(float* device, const float* view, int64_t n) const {
  if (backend_->host_reads_device_memory()) return;
  backend_->CopyToDevice(device, view, n * static_cast<int64_t>(sizeof(float)));
  Status status = backend_->Synchronize();
  if (!status.ok() && host_copy_status_.ok()) host_copy_status_ = std::move(status);
}

Status Model::TakeHostCopyStatus() {
  Status status = std::move(host_copy_status_);
  host_copy_status_ = OkStatus();
  return status;
}

}  // namespace shardtrain::model
