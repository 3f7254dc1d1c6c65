// Helpers shared by the Keras file layouts of storage/keras (keras3_layout,
// legacy_h5_layout, keras_files): which weights have optimizer state, and
// optional string attributes. Internal to storage/keras; thread-safety as
// hdf5_file.h.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "storage/keras/hdf5_file.h"
#include "storage/keras/keras_files.h"

namespace shardtrain::storage::keras {

// The weights that have optimizer state: the trainable weights of the
// trainable layers (not a BatchNormalization's moving statistics).
std::vector<const KerasWeight*> TrainableWeights(const KerasModelFile& model);

// An optional string attribute: `fallback` when absent or unusable, the
// error when the file is damaged there.
StatusOr<std::string> OptionalString(const H5File& file, const std::string& object_path,
                                     const std::string& name, const std::string& fallback);

}  // namespace shardtrain::storage::keras
