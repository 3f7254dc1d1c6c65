// The legacy HDF5 weights layout (shared/spec/keras-formats.md §2.1, §3): a
// `layer_names` list, a group per layer whose `weight_names` name its
// datasets, and /optimizer_weights. Keras 2 full-model .h5 files keep it
// under /model_weights, Keras 2 save_weights files at the root; Keras 3's
// legacy .h5 uses it too. Internal to storage/keras; thread-safety as
// hdf5_file.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/keras/hdf5_file.h"
#include "storage/keras/keras_files.h"

namespace shardtrain::storage::keras {

// The layers under `group` ("/model_weights" or "/"), their classes from
// `classes` (layer name -> class); DataLoss naming the file and the object
// when a listed layer or weight is missing or damaged.
StatusOr<std::vector<KerasLayerWeights>> ReadLegacyWeights(
    const H5File& file, const std::string& group,
    const std::map<std::string, std::string>& classes);

// Adam state of a legacy file, in the Keras 3 or the tf.keras <= 2.10 order,
// into model->optimizer (which needs model->layers read first). State we
// cannot use is skipped; damaged weight names are DataLoss.
Status ReadLegacyOptimizer(const H5File& file, KerasModelFile* model);

// A Keras 2 full model (spec §7): root attributes, /model_weights and, with
// optimizer state, /optimizer_weights in the tf.keras <= 2.10 order.
Status WriteLegacyModel(H5File& file, const KerasModelFile& model);

}  // namespace shardtrain::storage::keras
