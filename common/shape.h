// Shape: a list of non-negative dimension sizes, row-major (last dim fastest).
// Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace shardtrain {

class Shape {
 public:
  Shape() = default;  // scalar: rank 0, one element
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[static_cast<size_t>(i)]; }
  const std::vector<int64_t>& dims() const { return dims_; }

  // Product of the dimensions (1 for a scalar).
  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : dims_) n *= d;
    return n;
  }

  // "[32, 784]"
  std::string ToString() const {
    std::string out = "[";
    for (size_t i = 0; i < dims_.size(); ++i) {
      if (i > 0) out += ", ";
      out += std::to_string(dims_[i]);
    }
    return out + "]";
  }

  friend bool operator==(const Shape& a, const Shape& b) { return a.dims_ == b.dims_; }

 private:
  std::vector<int64_t> dims_;
};

}  // namespace shardtrain
