// TensorView: a non-owning view of a dense row-major tensor (pointer, dtype,
// shape, device). It never allocates or frees; whoever made the buffer owns it
// and must keep it alive while views exist. Thread-compatible.
#pragma once

#include <cstdint>

#include "common/dtype.h"
#include "common/shape.h"

namespace shardtrain {

enum class Device : int { kCpu = 0, kCuda = 1 };

inline const char* DeviceName(Device device) { return device == Device::kCpu ? "cpu" : "cuda"; }

class TensorView {
 public:
  TensorView() = default;
  TensorView(void* data, DType dtype, Shape shape, Device device = Device::kCpu)
      : data_(data), dtype_(dtype), shape_(std::move(shape)), device_(device) {}

  template <typename T>
  static TensorView Of(T* data, Shape shape, Device device = Device::kCpu) {
    return TensorView(static_cast<void*>(data), DTypeOf<std::remove_const_t<T>>(),
                      std::move(shape), device);
  }

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  Device device() const { return device_; }
  int64_t num_elements() const { return shape_.num_elements(); }
  int64_t num_bytes() const {
    return num_elements() * static_cast<int64_t>(DTypeSize(dtype_));
  }

  // The same buffer seen with another shape of the same element count.
  TensorView Reshaped(Shape shape) const { return TensorView(data_, dtype_, std::move(shape), device_); }

 private:
  void* data_ = nullptr;
  DType dtype_ = DType::kInvalid;
  Shape shape_;
  Device device_ = Device::kCpu;
};

}  // namespace shardtrain
