// gpu_step_bench: examples/s of the reference MLP's training step (Dense 512
// relu → dropout 0.2 → Dense 10 → sparse softmax cross-entropy → Adam over all
// parameters) composed from CudaBackend ops on device-resident data, at batch
// 32, 256 and 4096; and the step's roofline: its GEMM FLOPs over the measured
// cuBLAS rate plus its optimizer bytes over the measured device copy bandwidth.
// bench/torch_gpu_step.py measures PyTorch eager on the same GPU; both run from
// scripts/gpu-check.sh (docs/GPU.md). Prints the CUDA driver, runtime and
// cuBLAS versions first (alone with --versions, which needs no device).
// Without a usable device it says why and exits 2.
//
// Not yet the trainer: no CUDA-graph capture, no data loading, no allreduce.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device.h"

namespace shardtrain::kernels::cuda {
namespace {

constexpr int64_t kIn = 784, kHidden = 512, kClasses = 10;

Status Run() {
  std::printf("%s\n", CudaVersions().c_str());
  RETURN_IF_ERROR(CheckCudaUsable());
  ASSIGN_OR_RETURN(std::string device, CudaDeviceDescription(0));
  ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> gpu, CudaBackend::Create(0, /*tf32=*/false));
  std::printf("device: %s\n", device.c_str());

  // Peak rates for the roofline: a large fp32 GEMM and a device-to-device copy.
  const int64_t g = 4096;
  ASSIGN_OR_RETURN(DeviceBuffer a, gpu->AllocateDevice(g * g * 4, "a"));
  ASSIGN_OR_RETURN(DeviceBuffer b, gpu->AllocateDevice(g * g * 4, "b"));
  ASSIGN_OR_RETURN(DeviceBuffer c, gpu->AllocateDevice(g * g * 4, "c"));
  gpu->Fill(a.as<float>(), 0.5f, g * g);
  gpu->Fill(b.as<float>(), 0.25f, g * g);
  ASSIGN_OR_RETURN(double gemm_s, gpu->SecondsPerCall(10, [&](int) {
    gpu->DenseForward(a.as<float>(), b.as<float>(), nullptr, c.as<float>(), g, g, g);
  }));
  const double gemm_rate = 2.0 * g * g * g / gemm_s;
  ASSIGN_OR_RETURN(double copy_s, gpu->SecondsPerCall(10, [&](int) {
    gpu->CopyOnDevice(c.data(), a.data(), g * g * 4);
  }));
  const double copy_bandwidth = 2.0 * g * g * 4 / copy_s;  // read + write
  std::printf("cuBLAS sgemm %lldx%lldx%lld: %.1f TFLOP/s; device copy: %.0f GB/s\n",
              static_cast<long long>(g), static_cast<long long>(g), static_cast<long long>(g),
              gemm_rate / 1e12, copy_bandwidth / 1e9);

  const int64_t params = kIn * kHidden + kHidden + kHidden * kClasses + kClasses;
  ASSIGN_OR_RETURN(DeviceBuffer w, gpu->AllocateDevice(params * 4, "w"));
  ASSIGN_OR_RETURN(DeviceBuffer grads, gpu->AllocateDevice(params * 4, "grads"));
  ASSIGN_OR_RETURN(DeviceBuffer m, gpu->AllocateDevice(params * 4, "m"));
  ASSIGN_OR_RETURN(DeviceBuffer v, gpu->AllocateDevice(params * 4, "v"));
  float* w1 = w.as<float>();
  float* b1 = w1 + kIn * kHidden;
  float* w2 = b1 + kHidden;
  float* b2 = w2 + kHidden * kClasses;
  float* dw1 = grads.as<float>();
  float* db1 = dw1 + kIn * kHidden;
  float* dw2 = db1 + kHidden;
  float* db2 = dw2 + kHidden * kClasses;
  gpu->GlorotUniform(1, 0, w1, kIn, kHidden);
  gpu->GlorotUniform(1, 1, w2, kHidden, kClasses);
  gpu->Fill(b1, 0, kHidden);
  gpu->Fill(b2, 0, kClasses);
  gpu->Fill(m.as<float>(), 0, params);
  gpu->Fill(v.as<float>(), 0, params);

  std::printf(
      "| batch | step µs | examples/s | roofline µs | step / roofline "
      "|\n|---:|---:|---:|---:|---:|\n");
  for (int64_t batch : {32, 256, 4096}) {
    ASSIGN_OR_RETURN(DeviceBuffer x, gpu->AllocateDevice(batch * kIn * 4, "x"));
    ASSIGN_OR_RETURN(DeviceBuffer labels, gpu->AllocateDevice(batch * 4, "labels"));
    ASSIGN_OR_RETURN(DeviceBuffer h, gpu->AllocateDevice(batch * kHidden * 4, "h"));
    ASSIGN_OR_RETURN(DeviceBuffer d, gpu->AllocateDevice(batch * kHidden * 4, "d"));
    ASSIGN_OR_RETURN(DeviceBuffer mask, gpu->AllocateDevice(batch * kHidden, "mask"));
    ASSIGN_OR_RETURN(DeviceBuffer logits, gpu->AllocateDevice(batch * kClasses * 4, "logits"));
    ASSIGN_OR_RETURN(DeviceBuffer losses, gpu->AllocateDevice(batch * 4, "losses"));
    ASSIGN_OR_RETURN(DeviceBuffer dlogits, gpu->AllocateDevice(batch * kClasses * 4, "dlogits"));
    ASSIGN_OR_RETURN(DeviceBuffer dd, gpu->AllocateDevice(batch * kHidden * 4, "dd"));
    ASSIGN_OR_RETURN(DeviceBuffer correct,
                     gpu->AllocateDevice(sizeof(unsigned long long), "correct"));
    gpu->GlorotUniform(7, 9, x.as<float>(), batch, kIn);  // any fixed inputs will do
    std::vector<int32_t> host_labels(batch);
    for (int64_t i = 0; i < batch; ++i) host_labels[i] = static_cast<int32_t>(i % kClasses);
    gpu->CopyToDevice(labels.data(), host_labels.data(), batch * 4);
    RETURN_IF_ERROR(gpu->Synchronize());  // host_labels goes at the end of the iteration
    ASSIGN_OR_RETURN(double step_s, gpu->SecondsPerCall(batch >= 4096 ? 50 : 500, [&](int i) {
      float* xd = x.as<float>();
      gpu->DenseForward(xd, w1, b1, h.as<float>(), batch, kIn, kHidden);
      gpu->ActivationForward(Activation::kRelu, h.as<float>(), h.as<float>(), batch, kHidden);
      gpu->DropoutForward(DropoutKey{1, static_cast<uint64_t>(i), 0, 0}, 0.2f, h.as<float>(),
                          d.as<float>(), mask.as<uint8_t>(), batch * kHidden);
      gpu->DenseForward(d.as<float>(), w2, b2, logits.as<float>(), batch, kHidden, kClasses);
      gpu->SparseSoftmaxCrossEntropyWithAccuracy(
          logits.as<float>(), labels.as<int32_t>(), 1.0f / batch, losses.as<float>(),
          dlogits.as<float>(), batch, kClasses, correct.as<unsigned long long>());
      gpu->DenseBackward(d.as<float>(), w2, dlogits.as<float>(), dd.as<float>(), dw2, db2, batch,
                         kHidden, kClasses);
      gpu->DropoutBackward(0.2f, mask.as<uint8_t>(), dd.as<float>(), dd.as<float>(),
                           batch * kHidden);
      gpu->ActivationBackward(Activation::kRelu, h.as<float>(), dd.as<float>(), dd.as<float>(),
                              batch, kHidden);
      gpu->DenseBackward(xd, w1, dd.as<float>(), nullptr, dw1, db1, batch, kIn, kHidden);
      gpu->AdamUpdate(AdamParams{1e-3f, 0.9f, 0.999f, 1e-7f, i + 1}, w.as<float>(),
                      grads.as<float>(), m.as<float>(), v.as<float>(), params);
    }));
    const double flops = 2.0 * batch * (kIn * kHidden + kHidden * kClasses)  // forward
                         + 2.0 * 2.0 * batch * kHidden * kClasses            // layer 2 dw, dx
                         + 2.0 * batch * kIn * kHidden;                      // layer 1 dw
    const double bytes = 7.0 * 4.0 * params;  // Adam: read w, g, m, v; write w, m, v
    const double roofline_s = flops / gemm_rate + bytes / copy_bandwidth;
    std::printf("| %lld | %.1f | %.0f | %.1f | %.2f |\n", static_cast<long long>(batch),
                step_s * 1e6, batch / step_s, roofline_s * 1e6, step_s / roofline_s);
  }
  return gpu->Synchronize();
}

}  // namespace
}  // namespace shardtrain::kernels::cuda

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--versions") {  // no device needed
    std::printf("%s\n", shardtrain::kernels::cuda::CudaVersions().c_str());
    return 0;
  }
  shardtrain::Status status = shardtrain::kernels::cuda::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "gpu_step_bench: %s\n", status.ToString().c_str());
    return status.code() == shardtrain::StatusCode::kFailedPrecondition ? 2 : 1;
  }
  return 0;
}
