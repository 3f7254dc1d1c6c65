// The serving runtime's kernels for the ops of convolutional and residual
// SavedModels (storage/saved_model/layer_graph.h): Conv2D, MaxPool, AvgPool,
// Mean, FusedBatchNormV3 (inference) and ConcatV2, float32 NHWC, on the
// KernelBackend's ops. Each checks its attrs and input shapes before
// allocating: InvalidArgument for a malformed node or inputs that do not fit,
// Unimplemented for what TensorFlow allows but the runtime does not run
// (NCHW, dilations != 1, EXPLICIT padding, training-mode batch norm). The
// caller (graph_executor.cc) prefixes the node's name and op.
//
// Any backend: Tensors are host objects. On a backend whose memory the host
// reads (the CPU) the op runs on the Tensors' data in place; elsewhere (CUDA,
// the strict device) each op copies its inputs to device buffers, runs there
// and copies its output back (serving/staged_call.h), with the same results;
// a failed allocation, copy or op is returned as the backend reports it.
// Thread-safe as the backend is (the caller serializes a device backend).
#pragma once

#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/tf/graph.pb.h"
#include "serving/tensor.h"

namespace shardtrain::serving {

// Conv2D(input [n, h, w, c], filter [kh, kw, c, out]): attrs strides, padding,
// data_format, dilations, explicit_paddings.
StatusOr<Tensor> Conv2DOp(const tf::NodeDef& node, const Tensor& input, const Tensor& filter,
                          kernels::KernelBackend& backend);

// MaxPool or AvgPool (node.op()) of [n, h, w, c]: attrs ksize, strides, padding, data_format.
StatusOr<Tensor> PoolOp(const tf::NodeDef& node, const Tensor& input,
                        kernels::KernelBackend& backend);

// Mean of [n, h, w, c] over the axes [1, 2] (GlobalAveragePooling2D; -3 and
// -2 name them too); attr keep_dims.
StatusOr<Tensor> MeanOp(const tf::NodeDef& node, const Tensor& input, const Tensor& axes,
                        kernels::KernelBackend& backend);

// FusedBatchNormV3 with is_training=false over the last axis of x: outputs y,
// then mean and variance as given (batch_mean, batch_variance, reserve spaces
// 1-2) and an empty reserve_space_3. Attr epsilon.
StatusOr<std::vector<Tensor>> FusedBatchNormOp(const tf::NodeDef& node, const Tensor& x,
                                               const Tensor& scale, const Tensor& offset,
                                               const Tensor& mean, const Tensor& variance,
                                               kernels::KernelBackend& backend);

// ConcatV2(values..., axis): float32 tensors of one rank, equal but on `axis`.
StatusOr<Tensor> ConcatV2Op(const tf::NodeDef& node, const std::vector<const Tensor*>& values,
                            const Tensor& axis, kernels::KernelBackend& backend);

}  // namespace shardtrain::serving
