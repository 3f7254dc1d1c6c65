#include "worker/optimizer/optimizer.h"

#include <cmath>
#include <sstream>

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

}  // namespace

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const config::OptimizerConfig& config,
                                                       int64_t num_parameters) {
  return Create(config, std::vector<model::ParameterSpan>{{0, num_parameters}});
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(
    const config::OptimizerConfig& config, std::vector<model::ParameterSpan> trainable) {
  std::unique_ptr<Optimizer> opt(new Optimizer());
  int64_t slot_floats = 0;
  for (const model::ParameterSpan& span : trainable) slot_floats += span.size;
  opt->trainable_ = std::move(trainable);
  float lr = config.learning_rate();
  if (lr < 0.0f || !std::isfinite(lr)) {
    return InvalidArgumentError("optimizer.learning_rate must be positive, got " +
                                std::to_string(lr));
  }
  size_t n = static_cast<size_t>(slot_floats);
  switch (config.kind_case()) {
    case config::OptimizerConfig::kAdam:
    case config::OptimizerConfig::KIND_NOT_SET: {
      const config::AdamConfig& c = config.adam();
      opt->kind_ = Kind::kAdam;
      opt->learning_rate_ = lr > 0.0f ? lr : 1e-3f;
      opt->adam_.learning_rate = opt->learning_rate_;
      if (c.has_beta_1()) opt->adam_.beta_1 = c.beta_1();
      if (c.has_beta_2()) opt->adam_.beta_2 = c.beta_2();
      if (c.has_epsilon()) opt->adam_.epsilon = c.epsilon();
      RETURN_IF_ERROR(CheckRange("adam.beta_1", opt->adam_.beta_1, 0.0f, 1.0f, false));
      RETURN_IF_ERROR(CheckRange("adam.beta_2", opt->adam_.beta_2, 0.0f, 1.0f, false));
      RETURN_IF_ERROR(CheckRange("adam.epsilon", opt->adam_.epsilon, 0.0f, 1.0f, true));
      opt->slot_names_ = {"m", "v"};
      break;
    }
    case config::OptimizerConfig::kSgd: {
      opt->kind_ = Kind::kSgd;
      opt->learning_rate_ = lr > 0.0f ? lr : 1e-2f;
      opt->sgd_ = {opt->learning_rate_, config.sgd().momentum(), config.sgd().nesterov()};
      RETURN_IF_ERROR(CheckRange("sgd.momentum", opt->sgd_.momentum, 0.0f, 1.0f, false));
      if (opt->sgd_.momentum > 0.0f) opt->slot_names_ = {"momentum"};
      break;
    }
    case config::OptimizerConfig::kRmsprop: {
      const config::RmspropConfig& c = config.rmsprop();
      opt->kind_ = Kind::kRmsprop;
      opt->learning_rate_ = lr > 0.0f ? lr : 1e-3f;
      opt->rmsprop_.learning_rate = opt->learning_rate_;
      if (c.has_rho()) opt->rmsprop_.rho = c.rho();
      if (c.has_epsilon()) opt->rmsprop_.epsilon = c.epsilon();
      opt->rmsprop_.momentum = c.momentum();
      RETURN_IF_ERROR(CheckRange("rmsprop.rho", opt->rmsprop_.rho, 0.0f, 1.0f, false));
      RETURN_IF_ERROR(CheckRange("rmsprop.epsilon", opt->rmsprop_.epsilon, 0.0f, 1.0f, true));
      RETURN_IF_ERROR(CheckRange("rmsprop.momentum", opt->rmsprop_.momentum, 0.0f, 1.0f, false));
      opt->slot_names_ = {"velocity"};
      if (opt->rmsprop_.momentum > 0.0f) opt->slot_names_.push_back("momentum");
      break;
    }
  }
  opt->slots_.assign(opt->slot_names_.size(), std::vector<float>(n, 0.0f));
  return opt;
}

void Optimizer::Apply(kernels::KernelBackend& backend, float* weights, const float* grads) {
  ++iterations_;
  int64_t slot_offset = 0;  // the span's first float in the slot buffers
  for (const model::ParameterSpan& span : trainable_) {
    float* w = weights + span.offset;
    const float* g = grads + span.offset;
    auto slot = [&](size_t index) {
      return index < slots_.size() ? slots_[index].data() + slot_offset : nullptr;
    };
    switch (kind_) {
      case Kind::kAdam: {
        kernels::AdamParams params = adam_;
        params.iteration = iterations_;
        backend.AdamUpdate(params, w, g, slot(0), slot(1), span.size);
        break;
      }
      case Kind::kSgd:
        backend.SgdUpdate(sgd_, w, g, slot(0), span.size);
        break;
      case Kind::kRmsprop:
        backend.RmspropUpdate(rmsprop_, w, g, slot(0), slot(1), span.size);
        break;
    }
    slot_offset += span.size;
  }
}

Optimizer::KerasVariables Optimizer::KerasV2() const {
  KerasVariables keras;
  switch (kind_) {
    case Kind::kAdam:
      keras.class_name = "Adam";
      keras.hyper = {{"beta_1", adam_.beta_1},
                     {"beta_2", adam_.beta_2},
                     {"decay", 0.0f},
                     {"learning_rate", learning_rate_}};
      break;
    case Kind::kSgd:
      keras.class_name = "SGD";
      keras.hyper = {{"decay", 0.0f}, {"learning_rate", learning_rate_}, {"momentum", sgd_.momentum}};
      break;
    case Kind::kRmsprop:
      keras.class_name = "RMSprop";
      keras.hyper = {{"decay", 0.0f},
                     {"learning_rate", learning_rate_},
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
  switch (kind_) {
    case Kind::kAdam:
      out << "adam(learning_rate=" << learning_rate_ << ", beta_1=" << adam_.beta_1
          << ", beta_2=" << adam_.beta_2 << ", epsilon=" << adam_.epsilon << ")";
      break;
    case Kind::kSgd:
      out << "sgd(learning_rate=" << learning_rate_ << ", momentum=" << sgd_.momentum
          << ", nesterov=" << (sgd_.nesterov ? "true" : "false") << ")";
      break;
    case Kind::kRmsprop:
      out << "rmsprop(learning_rate=" << learning_rate_ << ", rho=" << rmsprop_.rho
          << ", epsilon=" << rmsprop_.epsilon << ", momentum=" << rmsprop_.momentum << ")";
      break;
  }
  return out.str();
}

}  // namespace shardtrain::optimizer
