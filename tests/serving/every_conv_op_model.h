// A model on 8x8x1 images with every convolutional op of the serving runtime
// (conv2d with and without activation, batch normalization with and without
// center/scale, add, activation, max and average pooling, concatenate, strided
// conv, global average pooling, dropout, reshape, flatten, dense): the model
// the CNN export tests train, export and serve.
#pragma once

namespace shardtrain {

inline constexpr char kEveryConvOpModel[] = R"(
model {
  input_shape: [8, 8, 1]
  input_name: "pixels"
  layers { name: "conv2d" conv2d { filters: 4 kernel_size: [3] padding: SAME activation: RELU } }
  layers { name: "batch_normalization" batch_normalization {} }
  layers { name: "conv2d_1" conv2d { filters: 4 kernel_size: [3] padding: SAME } }
  layers { name: "add" inputs: ["batch_normalization", "conv2d_1"] add {} }
  layers { name: "activation" activation { activation: RELU } }
  layers { name: "max_pooling2d" max_pooling2d { pool_size: [2] } }
  layers { name: "average_pooling2d" inputs: ["activation"]
           average_pooling2d { pool_size: [3] strides: [2] padding: SAME } }
  layers { name: "concatenate" inputs: ["max_pooling2d", "average_pooling2d"] concatenate {} }
  layers { name: "conv2d_2" conv2d { filters: 6 kernel_size: [2, 3] strides: [1, 2] } }
  layers { name: "batch_normalization_1" batch_normalization { center: false scale: false } }
  layers { name: "global_average_pooling2d" global_average_pooling2d {} }
  layers { name: "dropout" dropout { rate: 0.5 } }
  layers { name: "reshape" reshape { target_shape: [2, -1] } }
  layers { name: "flatten" flatten {} }
  layers { name: "dense" dense { units: 3 } }
}
)";

}  // namespace shardtrain
