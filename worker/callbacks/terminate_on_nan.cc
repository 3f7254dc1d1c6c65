#include "worker/callbacks/terminate_on_nan.h"

#include <cmath>
#include <sstream>

namespace shardtrain::callbacks {

Status TerminateOnNaN::OnBatchEnd(const BatchEnd& batch) {
  if (std::isfinite(batch.loss)) return OkStatus();
  std::ostringstream message;
  const char* value = std::isnan(batch.loss) ? "nan" : batch.loss > 0 ? "inf" : "-inf";
  message << "invalid loss (" << value << ") at epoch " << batch.epoch << ", step "
          << batch.step_in_epoch << " of " << batch.steps_per_epoch << " (global step "
          << trainer_->global_step() << "): training diverged; terminating (TerminateOnNaN). "
          << "Lower the learning rate, check the optimizer's epsilon and the data, or set "
          << "callbacks.terminate_on_nan: false to train on";
  return InvalidArgumentError(message.str());
}

}  // namespace shardtrain::callbacks
