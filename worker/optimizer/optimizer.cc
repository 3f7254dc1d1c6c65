#include "worker/optimizer/optimizer.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

namespace shardtrain::optimizer {
namespace {

Status CheckRange(const char* field, float value, float low, float high, bool high_inclusive) {
  bool ok = std::isfinite(value) && value >= low && (high_inclusive ? value <= high : value < high);
  if (ok) return OkStatus();
  std::ostringstream message;
  message << "optimizer." << field << " = " << value << " is outside [" << low << ", " << high
          << (high_inclusive ? "]" : ")");
  return InvalidArgumentError(message.str());
}

// epsilon in (0, 1]: the update divides by sqrt(v) + epsilon (Adam) or
// sqrt(ms + epsilon) (RMSprop), so 0 gives 0/0 = NaN where a slot is still 0.
Status CheckEpsilon(const std::string& field, float value) {
  if (std::isfinite(value) && value > 0.0f && value <= 1.0f) return OkStatus();
  std::ostringstream message;
  message << "optimizer." << field << " = " << value
          << " is outside (0, 1]: epsilon must be > 0, or the update divides by zero (Keras's "
             "default is 1e-7)";
  return InvalidArgumentError(message.str());
}

std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

float DefaultLearningRate(const config::OptimizerConfig& config) {
  return config.kind_case() == config::OptimizerConfig::kSgd ? 1e-2f : 1e-3f;
}

Status Optimizer::Validate(const config::OptimizerConfig& config) {
  return Create(config, std::vector<model::ParameterSpan>{}).status();
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(
    const config::OptimizerConfig& config, std::vector<model::ParameterSpan> trainable) {
  return Create(kernels::SharedCpuBackend(), config, std::move(trainable));
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const config::OptimizerConfig& config,
                                                       int64_t num_parameters) {
  return Create(kernels::SharedCpuBackend(), config, num_parameters);
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const config::OptimizerConfig& config,
                                                       const model::ParameterStore& params) {
  return Create(kernels::SharedCpuBackend(), config, params);
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(kernels::KernelBackend& backend,
                                                       const config::OptimizerConfig& config,
                                                       int64_t num_parameters) {
  return Create(backend, config, std::vector<model::ParameterSpan>{{0, num_parameters}});
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(kernels::KernelBackend& backend,
                                                       const config::OptimizerConfig& config,
                                                       const model::ParameterStore& params) {
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
                   Create(backend, config, params.TrainableSpans()));
  opt->variables_.clear();
  for (const model::VariableInfo& info : params.variables()) {
    if (info.trainable && info.shape.num_elements() > 0) {
      opt->variables_.push_back({info.offset, info.shape.num_elements()});
    }
  }
  return opt;
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(
    kernels::KernelBackend& backend, const config::OptimizerConfig& config,
    std::vector<model::ParameterSpan> trainable) {
  std::unique_ptr<Optimizer> opt(new Optimizer());
  opt->backend_ = &backend;
  for (const model::ParameterSpan& span : trainable) opt->slot_floats_ += span.size;
  opt->variables_ = trainable;
  opt->trainable_ = std::move(trainable);
  ASSIGN_OR_RETURN(opt->schedule_,
                   LearningRateSchedule::Create(config, DefaultLearningRate(config)));
  ASSIGN_OR_RETURN(opt->clipping_, GradientClipping::FromConfig(config));
  RETURN_IF_ERROR(opt->ConfigureKind(config));
  const bool adamw = config.kind_case() == config::OptimizerConfig::kAdamw;
  opt->weight_decay_ = config.has_weight_decay() ? config.weight_decay() : (adamw ? 0.004f : 0.0f);
  RETURN_IF_ERROR(CheckRange("weight_decay", opt->weight_decay_, 0.0f, 1.0f, true));
  RETURN_IF_ERROR(opt->AllocateState());
  return opt;
}

Status Optimizer::AllocateState() {
  kernels::KernelBackend& backend = *backend_;
  if (!backend.host_reads_device_memory()) {
    const char* host_math = nullptr;  // the config field asking for host math
    if (clipping_.mode != GradientClipping::Mode::kNone) {
      host_math = clipping_.field();
    } else if (weight_decay_ > 0.0f) {
      host_math = "weight_decay";
    }
    if (host_math != nullptr) {
      return FailedPreconditionError(std::string("optimizer.") + host_math +
                                     " is applied on the host, and the " +
                                     std::string(backend.name()) +
                                     " backend's memory is not host memory; unset it or use "
                                     "--device cpu");
    }
  }
  const std::string prefix = Lowercase(keras_class_name_) + " ";
  const int64_t bytes = slot_floats_ * static_cast<int64_t>(sizeof(float));
  for (const std::string& name : slot_names_) {
    ASSIGN_OR_RETURN(kernels::DeviceBuffer slot, backend.AllocateDevice(bytes, prefix + name));
    slots_.push_back(std::move(slot));
  }
  ZeroSlots();
  if (clipping_.mode != GradientClipping::Mode::kNone && !trainable_.empty()) {
    const int64_t end = trainable_.back().offset + trainable_.back().size;
    ASSIGN_OR_RETURN(clipped_grads_,
                     backend.AllocateDevice(end * static_cast<int64_t>(sizeof(float)),
                                            prefix + "clipped gradients"));
  }
  return OkStatus();  // a failed Fill stays recorded for the caller's next CheckErrors()
}

Status Optimizer::CheckSlotRange(const char* call, size_t index, int64_t first,
                                 int64_t count) const {
  if (index < slots_.size() && first >= 0 && count >= 0 && first <= slot_floats_ &&
      count <= slot_floats_ - first) {
    return OkStatus();
  }
  const std::string name =
      index < slot_names_.size() ? slot_names_[index] : "#" + std::to_string(index);
  return InvalidArgumentError(std::string(call) + ": floats [" + std::to_string(first) + ", " +
                              std::to_string(first + count) + ") are outside optimizer slot '" +
                              name + "' of " + std::to_string(slot_floats_) + " floats");
}

Status Optimizer::CopySlotToHost(size_t index, int64_t first, int64_t count, float* host) const {
  RETURN_IF_ERROR(CheckSlotRange("CopySlotToHost", index, first, count));
  if (count == 0) return OkStatus();
  const float* device = slot_data(index) + first;
  const int64_t bytes = count * static_cast<int64_t>(sizeof(float));
  if (backend_->host_reads_device_memory()) {
    std::memcpy(host, device, static_cast<size_t>(bytes));
    return OkStatus();
  }
  backend_->CopyToHost(host, device, bytes);
  return backend_->Synchronize();
}

Status Optimizer::CopySlotFromHost(size_t index, int64_t first, int64_t count, const float* host) {
  RETURN_IF_ERROR(CheckSlotRange("CopySlotFromHost", index, first, count));
  if (count == 0) return OkStatus();
  float* device = slot_data(index) + first;
  const int64_t bytes = count * static_cast<int64_t>(sizeof(float));
  if (backend_->host_reads_device_memory()) {
    std::memcpy(device, host, static_cast<size_t>(bytes));
    return OkStatus();
  }
  backend_->CopyToDevice(device, host, bytes);
  return backend_->Synchronize();
}

void Optimizer::ZeroSlots() {
  for (kernels::DeviceBuffer& slot : slots_) {
    if (slot_floats_ == 0) continue;
    if (backend_->host_reads_device_memory()) {
      std::fill_n(slot.floats(), slot_floats_, 0.0f);
    } else {
      backend_->Fill(slot.floats(), 0.0f, slot_floats_);
    }
  }
}

Status Optimizer::ConfigureKind(const config::OptimizerConfig& config) {
  const float lr = schedule_.At(0);
  switch (config.kind_case()) {
    case config::OptimizerConfig::kAdam:
    case config::OptimizerConfig::kAdamw:
    case config::OptimizerConfig::KIND_NOT_SET: {
      const bool adamw = config.kind_case() == config::OptimizerConfig::kAdamw;
      const config::AdamConfig& c = adamw ? config.adamw() : config.adam();
      kind_ = Kind::kAdam;
      keras_class_name_ = adamw ? "AdamW" : "Adam";
      adam_.learning_rate = lr;
      if (c.has_beta_1()) adam_.beta_1 = c.beta_1();
      if (c.has_beta_2()) adam_.beta_2 = c.beta_2();
      if (c.has_epsilon()) adam_.epsilon = c.epsilon();
      const std::string prefix = adamw ? "adamw." : "adam.";
      RETURN_IF_ERROR(CheckRange((prefix + "beta_1").c_str(), adam_.beta_1, 0.0f, 1.0f, false));
      RETURN_IF_ERROR(CheckRange((prefix + "beta_2").c_str(), adam_.beta_2, 0.0f, 1.0f, false));
      RETURN_IF_ERROR(CheckEpsilon(prefix + "epsilon", adam_.epsilon));
      slot_names_ = {"m", "v"};
      break;
    }
    case config::OptimizerConfig::kSgd: {
      kind_ = Kind::kSgd;
      keras_class_name_ = "SGD";
      sgd_ = {lr, config.sgd().momentum(), config.sgd().nesterov()};
      RETURN_IF_ERROR(CheckRange("sgd.momentum", sgd_.momentum, 0.0f, 1.0f, false));
      if (sgd_.momentum > 0.0f) slot_names_ = {"momentum"};
      break;
    }
    case config::OptimizerConfig::kRmsprop: {
      const config::RmspropConfig& c = config.rmsprop();
      kind_ = Kind::kRmsprop;
      keras_class_name_ = "RMSprop";
      rmsprop_.learning_rate = lr;
      if (c.has_rho()) rmsprop_.rho = c.rho();
      if (c.has_epsilon()) rmsprop_.epsilon = c.epsilon();
      rmsprop_.momentum = c.momentum();
      RETURN_IF_ERROR(CheckRange("rmsprop.rho", rmsprop_.rho, 0.0f, 1.0f, false));
      RETURN_IF_ERROR(CheckEpsilon("rmsprop.epsilon", rmsprop_.epsilon));
      RETURN_IF_ERROR(CheckRange("rmsprop.momentum", rmsprop_.momentum, 0.0f, 1.0f, false));
      slot_names_ = {"velocity"};
      if (rmsprop_.momentum > 0.0f) slot_names_.push_back("momentum");
      break;
    }
  }
  return OkStatus();
}

Status Optimizer::SetLearningRate(float rate) {
  if (!schedule_.is_constant()) {
    return FailedPreconditionError("cannot set the learning rate of a " +
                                   schedule_.KerasClassName() + " schedule");
  }
  config::OptimizerConfig constant;
  constant.set_learning_rate(rate);
  ASSIGN_OR_RETURN(schedule_, LearningRateSchedule::Create(constant, rate));
  return OkStatus();
}

void Optimizer::Apply(kernels::KernelBackend& backend, float* weights, const float* grads) {
  // Keras order: the rate at the iteration count before the update, clipping,
  // weight decay, then the update.
  BeginIteration();
  if (clipping_.mode != GradientClipping::Mode::kNone && !trainable_.empty()) {
    const int64_t end = trainable_.back().offset + trainable_.back().size;
    std::copy_n(grads, end, clipped_grads_.floats());
    ClipGradients(clipping_, variables_, clipped_grads_.floats());
    grads = clipped_grads_.floats();
  }
  if (weight_decay_ > 0.0f) ApplyWeightDecay(weight_decay_, iteration_rate_, variables_, weights);
  int64_t slot_offset = 0;  // the span's first float in the slot buffers
  for (const model::ParameterSpan& span : trainable_) {
    auto slot = [&](size_t index) {
      return index < slots_.size() ? slots_[index].floats() + slot_offset : nullptr;
    };
    UpdateSpan(backend, weights + span.offset, grads + span.offset, slot(0), slot(1), span.size);
    slot_offset += span.size;
  }
}

bool Optimizer::UpdatesEachFloatAlone(int64_t num_parameters) const {
  const bool all_train =
      trainable_.size() == 1 && trainable_[0].offset == 0 && trainable_[0].size == num_parameters;
  return all_train && clipping_.mode == GradientClipping::Mode::kNone;
}

void Optimizer::BeginIteration() {
  iteration_rate_ = schedule_.At(iterations_);
  ++iterations_;
  adam_.learning_rate = iteration_rate_;
  sgd_.learning_rate = iteration_rate_;
  rmsprop_.learning_rate = iteration_rate_;
}

void Optimizer::UpdateRange(kernels::KernelBackend& backend, float* w, const float* g,
                            float* const* slots, int64_t n) {
  if (weight_decay_ > 0.0f) ApplyWeightDecay(weight_decay_, iteration_rate_, {{0, n}}, w);
  float* slot0 = !slots_.empty() ? slots[0] : nullptr;
  float* slot1 = slots_.size() > 1 ? slots[1] : nullptr;
  UpdateSpan(backend, w, g, slot0, slot1, n);
}

void Optimizer::UpdateSpan(kernels::KernelBackend& backend, float* w, const float* g, float* slot0,
                           float* slot1, int64_t n) {
  switch (kind_) {
    case Kind::kAdam: {
      kernels::AdamParams params = adam_;
      params.iteration = iterations_;
      backend.AdamUpdate(params, w, g, slot0, slot1, n);
      break;
    }
    case Kind::kSgd:
      backend.SgdUpdate(sgd_, w, g, slot0, n);
      break;
    case Kind::kRmsprop:
      backend.RmspropUpdate(rmsprop_, w, g, slot0, slot1, n);
      break;
  }
}

Optimizer::KerasVariables Optimizer::KerasV2() const {
  KerasVariables keras;
  const float lr = learning_rate();
  switch (kind_) {
    case Kind::kAdam:
      keras.class_name = "Adam";
      keras.hyper = {{"beta_1", adam_.beta_1},
                     {"beta_2", adam_.beta_2},
                     {"decay", 0.0f},
                     {"learning_rate", lr}};
      break;
    case Kind::kSgd:
      keras.class_name = "SGD";
      keras.hyper = {{"decay", 0.0f}, {"learning_rate", lr}, {"momentum", sgd_.momentum}};
      break;
    case Kind::kRmsprop:
      keras.class_name = "RMSprop";
      keras.hyper = {{"decay", 0.0f},
                     {"learning_rate", lr},
                     {"momentum", rmsprop_.momentum},
                     {"rho", rmsprop_.rho}};
      break;
  }
  for (const std::string& slot : slot_names_) {
    keras.slot_names.push_back(slot == "velocity" ? "rms" : slot);
  }
  return keras;
}

std::string Optimizer::Describe() const {
  std::ostringstream out;
  const float lr = learning_rate();
  switch (kind_) {
    case Kind::kAdam:
      out << (keras_class_name_ == "AdamW" ? "adamw" : "adam") << "(learning_rate=" << lr
          << ", beta_1=" << adam_.beta_1 << ", beta_2=" << adam_.beta_2
          << ", epsilon=" << adam_.epsilon;
      break;
    case Kind::kSgd:
      out << "sgd(learning_rate=" << lr << ", momentum=" << sgd_.momentum
          << ", nesterov=" << (sgd_.nesterov ? "true" : "false");
      break;
    case Kind::kRmsprop:
      out << "rmsprop(learning_rate=" << lr << ", rho=" << rmsprop_.rho
          << ", epsilon=" << rmsprop_.epsilon << ", momentum=" << rmsprop_.momentum;
      break;
  }
  DescribeExtras(out);
  out << ")";
  return out.str();
}

void Optimizer::DescribeExtras(std::ostream& out) const {
  if (!schedule_.is_constant()) out << ", schedule=" << schedule_.KerasClassName();
  switch (clipping_.mode) {
    case GradientClipping::Mode::kNone:
      break;
    case GradientClipping::Mode::kNorm:
      out << ", clipnorm=" << clipping_.threshold;
      break;
    case GradientClipping::Mode::kValue:
      out << ", clipvalue=" << clipping_.threshold;
      break;
    case GradientClipping::Mode::kGlobalNorm:
      out << ", global_clipnorm=" << clipping_.threshold;
      break;
  }
  if (weight_decay_ > 0.0f) out << ", weight_decay=" << weight_decay_;
}

}  // namespace shardtrain::optimizer
