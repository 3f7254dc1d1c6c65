// Optimizer: applies Adam (or AdamW), SGD or RMSprop to the trainable spans of
// a flat parameter buffer, one kernel call per span (one call for the whole
// buffer when every variable trains), at the rate of its learning-rate schedule
// for the current iteration, after Keras's gradient clipping and decoupled
// weight decay (gradient_transforms.h); and owns the slot buffers: one contiguous
// buffer per slot holding the trainable floats only, in order (the parameter
// layout itself when every variable trains, as DESIGN.md §3 asks; frozen
// variables get no slots, as in Keras). Not thread-safe.
//
// Memory: the slots (and the clipped-gradient buffer) are DeviceBuffers
// allocated once, at Create, from the backend the optimizer is made for
// (named "adam m", "sgd momentum", ...), and Apply/UpdateRange take device
// pointers. Host code reaches the slots through CopySlotToHost/FromHost (no
// copy where the backend's memory is host memory, as on the CPU backend);
// slot() is the direct host view for that case only. Clipping and decoupled
// weight decay are host math over the gradients/weights, so Create refuses
// them (FailedPrecondition) on a backend whose memory the host cannot read.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/model/parameter_store.h"
#include "worker/optimizer/gradient_transforms.h"
#include "worker/optimizer/learning_rate_schedule.h"

namespace shardtrain::optimizer {

// Keras's default learning rate for `config`'s optimizer kind (SGD 1e-2,
// else 1e-3): the rate used where optimizer.learning_rate is 0.
float DefaultLearningRate(const config::OptimizerConfig& config);

// A host view of floats (Optimizer::slot): a span that compares by value and
// prints as a container in test failures.
class HostFloats {
 public:
  using value_type = float;
  using iterator = float*;
  using const_iterator = const float*;
  HostFloats(float* data, size_t size) : data_(data), size_(size) {}
  float* data() const { return data_; }
  size_t size() const { return size_; }
  float& operator[](size_t i) const { return data_[i]; }
  float* begin() const { return data_; }
  float* end() const { return data_ + size_; }
  friend bool operator==(const HostFloats& a, const HostFloats& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  float* data_;
  size_t size_;
};

class Optimizer {
 public:
  enum class Kind { kAdam, kSgd, kRmsprop };

  // Fills Keras defaults for unset fields; InvalidArgument names the bad field.
  // Only the floats of `trainable` (spans of the parameter buffer, in order,
  // not overlapping) are updated and have slots, allocated on `backend` (which
  // must outlive the optimizer; ResourceExhausted names the slot).
  // FailedPrecondition names clipnorm/clipvalue/global_clipnorm or
  // weight_decay where `backend`'s memory is not host memory.
  static StatusOr<std::unique_ptr<Optimizer>> Create(kernels::KernelBackend& backend,
                                                     const config::OptimizerConfig& config,
                                                     std::vector<model::ParameterSpan> trainable);
  // Every one of `num_parameters` floats trains.
  static StatusOr<std::unique_ptr<Optimizer>> Create(kernels::KernelBackend& backend,
                                                     const config::OptimizerConfig& config,
                                                     int64_t num_parameters);
  // The trainable variables of `params` (clipnorm clips each variable; the
  // overloads above treat each span as one variable).
  static StatusOr<std::unique_ptr<Optimizer>> Create(kernels::KernelBackend& backend,
                                                     const config::OptimizerConfig& config,
                                                     const model::ParameterStore& params);
  // The overloads above on the process's shared CPU backend (host memory), for
  // host-resident callers.
  static StatusOr<std::unique_ptr<Optimizer>> Create(const config::OptimizerConfig& config,
                                                     std::vector<model::ParameterSpan> trainable);
  static StatusOr<std::unique_ptr<Optimizer>> Create(const config::OptimizerConfig& config,
                                                     int64_t num_parameters);
  static StatusOr<std::unique_ptr<Optimizer>> Create(const config::OptimizerConfig& config,
                                                     const model::ParameterStore& params);
  // Checks `config` as Create does (InvalidArgument names the bad field).
  static Status Validate(const config::OptimizerConfig& config);

  // One update of the trainable spans of `weights` from `grads` (both the
  // whole parameter buffer, `backend`'s memory; `backend` is the one the
  // optimizer was created for): clips a copy of `grads` when clipping
  // is set, applies the weight decay, then the update at rate
  // schedule(iterations); counts an iteration.
  void Apply(kernels::KernelBackend& backend, float* weights, const float* grads);

  // Range updates (worker/sliced_optimizer_step.h: each rank updates its own
  // slice of the floats). True when the update of each of `num_parameters`
  // floats depends on that float's weight, gradient and slots alone, so range
  // updates give Apply()'s bits: every float trains and no gradient clipping
  // is set (clipnorm and global_clipnorm need norms over many floats).
  bool UpdatesEachFloatAlone(int64_t num_parameters) const;
  // Starts one update as Apply does before its kernels: takes the rate at
  // the current iteration count, then counts the iteration.
  void BeginIteration();
  // The started update (weight decay, then the kind's update) of `n`
  // consecutive floats: their weights `w`, gradients `g` and slot values
  // slots[i] (slot_names() order), in `backend`'s memory. Requires
  // UpdatesEachFloatAlone() and a BeginIteration() for the step.
  void UpdateRange(kernels::KernelBackend& backend, float* w, const float* g,
                   float* const* slots, int64_t n);

  Kind kind() const { return kind_; }
  int64_t iterations() const { return iterations_; }
  // Restores the iteration count (from a checkpoint).
  void set_iterations(int64_t iterations) { iterations_ = iterations; }
  // The rate the next update uses (Keras's optimizer.learning_rate: the
  // schedule at the current iteration count).
  float learning_rate() const { return schedule_.At(iterations_); }
  // Keras's `optimizer.learning_rate = rate` (ReduceLROnPlateau): replaces a
  // constant rate. FailedPrecondition with a schedule (Keras cannot set a
  // schedule's rate either).
  Status SetLearningRate(float rate);
  // The rate the last update used (the rate of step 0 before any update).
  float last_learning_rate() const { return schedule_.At(iterations_ > 0 ? iterations_ - 1 : 0); }
  const LearningRateSchedule& schedule() const { return schedule_; }
  const GradientClipping& clipping() const { return clipping_; }
  // 0 when no weight decay is applied.
  float weight_decay() const { return weight_decay_; }
  // The Keras class: "Adam", "AdamW", "SGD" or "RMSprop".
  const std::string& keras_class_name() const { return keras_class_name_; }
  // Slot names (Keras: "m"/"v" for Adam, "momentum" for SGD, "velocity"/"momentum" for
  // RMSprop) and their buffers (slot_size() trainable floats, in order: a
  // variable's slot values start at its VariableInfo::trainable_offset).
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  int64_t slot_size() const { return slot_floats_; }
  // Slot `index`'s device memory (null when slot_size() is 0).
  float* slot_data(size_t index) const { return slots_[index].floats(); }
  // True when host code may use slot_data() and slot() directly (the
  // backend's memory is host memory).
  bool slots_host_readable() const { return backend_->host_reads_device_memory(); }
  // The host view of slot `index`: only where slots_host_readable() (tests,
  // host-resident code); elsewhere the host must not touch it.
  HostFloats slot(size_t index) const {
    return {slot_data(index), static_cast<size_t>(slot_floats_)};
  }
  // Copies floats [first, first + count) of slot `index` to/from `host` and
  // waits for the copy (a plain copy on host memory). InvalidArgument names the
  // slot for a range outside it; the backend's recorded errors are returned.
  Status CopySlotToHost(size_t index, int64_t first, int64_t count, float* host) const;
  Status CopySlotFromHost(size_t index, int64_t first, int64_t count, const float* host);
  // Sets every slot to 0 on the device (a fresh optimizer's state).
  void ZeroSlots();
  // How Keras's OptimizerV2 names this optimizer's variables in a TF-format
  // checkpoint (shared/spec/tf-formats.md §3.2.1): the class name, the
  // hyper-parameter variables after "iter" (sorted by name) with their
  // values, and the checkpoint name of each of slot_names().
  struct KerasVariables {
    std::string class_name;                               // "Adam", "SGD", "RMSprop"
    std::vector<std::pair<std::string, float>> hyper;     // e.g. beta_1, beta_2, decay, learning_rate
    std::vector<std::string> slot_names;                  // e.g. "m", "v"; RMSprop's velocity is "rms"
  };
  KerasVariables KerasV2() const;
  // "adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)"
  std::string Describe() const;

 private:
  Optimizer() = default;

  // Fills the kind's parameters and slot names; InvalidArgument names a bad field.
  Status ConfigureKind(const config::OptimizerConfig& config);
  // Allocates the slots and clipping buffer on backend_ (once, zeroed);
  // FailedPrecondition for host math on a backend the host cannot read.
  Status AllocateState();
  // InvalidArgument unless [first, first + count) lies in slot `index`.
  Status CheckSlotRange(const char* call, size_t index, int64_t first, int64_t count) const;
  // Appends the schedule, clipping and weight decay when set.
  void DescribeExtras(std::ostream& out) const;
  // The kind's kernel on n floats at the started iteration's rate (slot
  // pointers null past slot_names()).
  void UpdateSpan(kernels::KernelBackend& backend, float* w, const float* g, float* slot0,
                  float* slot1, int64_t n);

  Kind kind_ = Kind::kAdam;
  std::string keras_class_name_ = "Adam";
  LearningRateSchedule schedule_;
  GradientClipping clipping_;
  float weight_decay_ = 0.0f;
  std::vector<model::ParameterSpan> variables_;  // one span per trainable variable
  kernels::AdamParams adam_;
  kernels::SgdParams sgd_;
  kernels::RmspropParams rmsprop_;
  int64_t iterations_ = 0;
  float iteration_rate_ = 0.0f;  // the rate of the update BeginIteration() started
  std::vector<model::ParameterSpan> trainable_;
  std::vector<std::string> slot_names_;
  kernels::KernelBackend* backend_ = nullptr;  // owns slots_ and clipped_grads_
  int64_t slot_floats_ = 0;
  std::vector<kernels::DeviceBuffer> slots_;
  // The clipped gradient (parameter layout up to the last trainable float),
  // when clipping (host-readable backends only).
  kernels::DeviceBuffer clipped_grads_;
};

}  // namespace shardtrain::optimizer
