// The Keras 3 weights layout (shared/spec/keras-formats.md §4.4) inside an
// open HDF5 file (a .weights.h5, or the model.weights.h5 of a .keras):
// /layers/<snake_case(class)>[_n]/vars/<i> per layer with weights (a UTF-8
// `name` attribute on vars), and /optimizer/vars: 0 iteration (int64), 1
// learning rate (absent with a schedule), then m and v per trainable weight,
// interleaved. Internal to storage/keras; thread-safety as hdf5_file.h.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/keras/hdf5_file.h"
#include "storage/keras/keras_config_scan.h"
#include "storage/keras/keras_files.h"

namespace shardtrain::storage::keras {

// Writes `model`'s weights and optimizer state (when present) into `file`.
Status WriteKeras3Weights(H5File& file, const KerasModelFile& model);

// Reads the layout. `known` gives the layers in model order when a config
// is known; otherwise the groups under /layers are read as they are named
// (their weights named after the class their path implies). `frozen` names
// the layers without optimizer state. Adam state that does not fit the
// trainable weights is left out; damaged objects are DataLoss.
StatusOr<KerasModelFile> ReadKeras3Weights(const H5File& file,
                                           const std::vector<WalkedLayer>& known,
                                           const std::set<std::string>& frozen);

}  // namespace shardtrain::storage::keras
