// serve_compute_bench: the model-compute part of a predict request, measured
// in-process: LoadedModel::Run of one instance on an exported SavedModel
// (no HTTP, no JSON). bench/run_serve_bench.sh uses it for the latency target
// p50 <= 1.5 x (floor + model compute).
//
// Usage: serve_compute_bench EXPORT_DIR [--iterations N]
// Prints "compute_p50_us <v>" and "compute_p99_us <v>". Single-threaded.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "serving/loaded_model.h"

int main(int argc, char** argv) {
  using shardtrain::serving::LoadedModel;
  using shardtrain::serving::Tensor;
  if (argc < 2) {
    std::fprintf(stderr, "usage: serve_compute_bench EXPORT_DIR [--iterations N]\n");
    return 2;
  }
  int iterations = 2000;
  if (argc >= 4 && std::string(argv[2]) == "--iterations") iterations = std::max(10, std::atoi(argv[3]));
  auto model = LoadedModel::Load(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  const auto& signature = (*model)->signatures().at("serving_default");
  const std::string input = signature.inputs().begin()->first;
  const int64_t width = signature.inputs().begin()->second.tensor_shape().dim(1).size();
  Tensor x = Tensor::Floats({1, width});
  for (int64_t k = 0; k < width; ++k) x.f[static_cast<size_t>(k)] = static_cast<float>(k % 255) / 255.0f;
  std::vector<double> micros;
  for (int k = 0; k < iterations + 100; ++k) {
    const auto start = std::chrono::steady_clock::now();
    auto out = (*model)->Run("serving_default", {{input, x}});
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    if (!out.ok()) {
      std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
      return 1;
    }
    if (k >= 100) micros.push_back(us);  // after warm-up
  }
  std::sort(micros.begin(), micros.end());
  std::printf("compute_p50_us %.1f\ncompute_p99_us %.1f\n", micros[micros.size() / 2],
              micros[micros.size() * 99 / 100]);
  return 0;
}
