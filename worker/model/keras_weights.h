// Moving weights between a Model (and its optimizer) and the neutral Keras
// file form of storage/keras (what .keras, .h5 and .weights.h5 hold), plus
// Keras-style get/set weights between models with the same variables. Every
// layer's weights are in Keras order (KerasLayerVariables); non-trainable ones
// (BatchNormalization's moving statistics) load and save like the others but
// have no optimizer state.
//
// Loading is by layer name, like Keras's load_weights(by_name=True) /
// expect_partial: layers present in both with equal shapes load; the report
// lists what loaded and what did not; a shape mismatch is an error naming the
// layer, the weight and both shapes. Not thread-safe (one model).
//
// Any backend: where the host reads the parameter store's backend memory (the
// CPU backend) values are read and written in place, with no copy; elsewhere
// (CUDA, the strict device) through one ParameterStore::CopyParamsToHost
// snapshot (and one CopyParamsFromHost after the host copy is filled), and the
// optimizer slots through Optimizer::CopySlotToHost. The values, and so the
// files made from them, are the same on every backend; a failed copy is the
// backend's error.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/keras/keras_files.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::model {

// A layer's variables in Keras order with their short names, as indices into
// the model's parameter store: kernel, bias (Dense, Conv2D); gamma, beta,
// moving_mean, moving_variance (BatchNormalization, gamma/beta only when it
// has them); a custom layer's own.
std::vector<std::pair<std::string, int>> KerasLayerVariables(const Model::Layer& layer);

// Whether Keras sees `model` as a Functional model, whose `layers` (and so the
// checkpoint's layer-i numbering) start with the InputLayer: some layer takes
// another input than the layer listed before it. A straight chain is a
// Sequential model.
bool IsKerasFunctional(const Model& model);

// Every layer of `model` (weightless ones included) with its weights and
// trainable flags; with an Adam `optimizer` also its state (iterations,
// learning rate, m and v of the trainable variables).
// The backend's error when a copy to the host fails; FailedPrecondition
// (CheckKerasLayerOrder) when a functional model's layers are not listed in
// Keras's model.layers order, by which Keras would match the file's weights.
StatusOr<storage::keras::KerasModelFile> ToKerasModelFile(const Model& model,
                                                          const optimizer::Optimizer* optimizer);

// The parameter values of `params` (size() floats) readable by the host: the
// parameters themselves where the host reads the store's backend memory (no
// copy), otherwise one copy held in `*copy`. The pointer is valid while both
// the store and `*copy` are unchanged.
StatusOr<const float*> HostParams(const ParameterStore& params, std::vector<float>* copy);

struct WeightLoadReport {
  std::vector<std::string> loaded;          // layer names whose weights were set
  std::vector<std::string> not_in_file;     // our layers with weights that the file lacks
  std::vector<std::string> not_in_model;    // file layers with weights that we lack
  std::string Describe() const;             // one human-readable paragraph
};

// Sets the weights of `model`'s layers from `file`, matching layers by name.
// InvalidArgument naming the layer and both shapes on a shape mismatch (then
// nothing is changed); the backend's error when a copy fails.
StatusOr<WeightLoadReport> LoadWeightsByName(const storage::keras::KerasModelFile& file,
                                             Model* model);

// Keras get_weights()/set_weights(): every variable's values in model order.
// The backend's error when a copy fails.
StatusOr<std::vector<std::vector<float>>> GetWeights(const Model& model);
// InvalidArgument naming the variable when the count or a size differs (then
// nothing is changed); the backend's error when a copy fails.
Status SetWeights(const std::vector<std::vector<float>>& weights, Model* model);

}  // namespace shardtrain::model
