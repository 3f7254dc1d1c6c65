// Exporting a model (an ExportModel layer graph: Dense stacks, convolutional
// and residual networks) as a TensorFlow SavedModel that TF Serving,
// TensorFlow's C++ LoadSavedModel, TF2 (through its TF1 loader) and our own
// serving runtime load: the minimal TF1-style graph of
// shared/spec/tf-formats.md §4.4 (resource variables restored through
// saver_def), tag "serve", signature serving_default
// (tensorflow/serving/predict), TF1 variable names in variables/. The layer
// nodes are layer_graph.h's; a Dense stack's graph and variables are those of
// §4.4 byte for byte. FusedBatchNormV3 (with exponential_avg_factor) needs
// TensorFlow >= 2.2.
//
// A version is built in BASE/.tmp-<random>, fsynced, then renamed to
// BASE/<version>, so a server watching BASE never sees half a version.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/tf/saved_model.pb.h"
#include "storage/saved_model/export_model.h"

namespace shardtrain::storage::saved_model {

// The SavedModel proto of `model` (no weights: they go to variables/).
// InvalidArgument naming the layer when its inputs, attributes or weight sizes
// are inconsistent (layer_shapes.h), or when input_name clashes with a node
// the export makes.
StatusOr<tf::SavedModel> BuildSavedModel(const ExportModel& model);

// Writes BASE/<version> (version <= 0: one more than the highest numeric
// subdirectory, 1 when none) and returns that directory. AlreadyExists when
// the version exists; InvalidArgument as BuildSavedModel.
StatusOr<std::string> ExportSavedModel(const ExportModel& model, const std::string& base_path,
                                       int64_t version);

}  // namespace shardtrain::storage::saved_model
