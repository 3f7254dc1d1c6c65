// The CPU backend tests give Model::Create when they build a model only to
// run it or read it on the host: one per process, never destroyed, so it
// outlives every model (Model::Create requires that of its backend). Any CPU
// backend may run such a model (its device memory is host memory).
#pragma once

#include "kernels/backend.h"

namespace shardtrain {

inline kernels::KernelBackend& ModelTestBackend() {
  static kernels::KernelBackend* const backend = kernels::CreateCpuBackend().release();
  return *backend;
}

}  // namespace shardtrain
