#!/usr/bin/python3
"""Independent forward pass of the MLCommons Tiny ResNet (Keras 3.7 legacy .h5).

Writes the expected outputs that tests/worker/resnet_import_test.cc compares
our Model::Forward against. Nothing here uses shardtrain: the weights are read
with h5py, the graph is followed from the file's own model_config JSON, and
each layer is computed with PyTorch in float64 (NCHW; TensorFlow's SAME
padding, with the extra row/column at the bottom/right; BatchNormalization in
inference form (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta).

Input: INPUT_ROWS examples of 32x32x3, element i of the flat NHWC buffer
(i over all rows, row = i / 3072) = float32(((i * 37 + 11) % 101) / 50.0 - 1.0
+ 0.4 * row), computed in double and rounded to float32 (the C++ test builds
the same buffer).

Usage: /usr/bin/python3 tests/worker/resnet_reference.py \
           /work/shared/testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5 \
           > tests/worker/resnet_reference_outputs.txt
Output: comment lines, then one line per example: the 10 logits (the Dense
layer before its softmax) and then the 10 softmax probabilities.
"""
import json
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

INPUT_ROWS = 4


def input_batch():
    count = INPUT_ROWS * 32 * 32 * 3
    i = np.arange(count, dtype=np.int64)
    values = ((i * 37 + 11) % 101) / 50.0 - 1.0 + 0.4 * (i // (32 * 32 * 3))
    return values.astype(np.float32).reshape(INPUT_ROWS, 32, 32, 3)


def weights_of(f, name):
    group = f["model_weights"][name]
    out = {}

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            out[path.split("/")[-1]] = torch.from_numpy(np.array(obj, dtype=np.float64))

    group.visititems(visit)
    return out


def same_pad(x, kernel, stride):
    """Pads NCHW x as TensorFlow's SAME: out = ceil(in / stride), extra at the end."""
    pads = []
    for size, k, s in zip(x.shape[2:], kernel, stride):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return F.pad(x, (left, right, top, bottom))


def activation(x, name):
    if name == "linear":
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "softmax":
        return torch.softmax(x, dim=1)
    raise ValueError("activation " + name)


def conv2d(x, cfg, w):
    assert cfg["data_format"] == "channels_last" and cfg["groups"] == 1
    assert list(cfg["dilation_rate"]) == [1, 1]
    kernel = w["kernel"].permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    if cfg["padding"] == "same":
        x = same_pad(x, cfg["kernel_size"], cfg["strides"])
    y = F.conv2d(x, kernel, w.get("bias"), stride=tuple(cfg["strides"]))
    return activation(y, cfg["activation"])


def batch_norm(x, cfg, w):
    assert cfg["axis"] in (-1, 3, [3])
    shape = (1, -1, 1, 1)
    y = (x - w["moving_mean"].view(shape)) / torch.sqrt(w["moving_variance"].view(shape) +
                                                        cfg["epsilon"])
    return y * w["gamma"].view(shape) + w["beta"].view(shape)


def average_pool(x, cfg):
    assert cfg["padding"] == "valid"
    return F.avg_pool2d(x, tuple(cfg["pool_size"]), tuple(cfg["strides"]))


def flatten_nhwc(x):
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def inbound_names(entry):
    args = entry["inbound_nodes"][0]["args"][0]
    tensors = args if isinstance(args, list) else [args]
    return [t["config"]["keras_history"][0] for t in tensors]


def forward(f, x_nhwc):
    config = json.loads(f.attrs["model_config"])
    values = {}
    logits = None
    for entry in config["config"]["layers"]:
        cls, cfg, name = entry["class_name"], entry["config"], entry["name"]
        if cls == "InputLayer":
            values[name] = torch.from_numpy(x_nhwc.astype(np.float64)).permute(0, 3, 1, 2)
            continue
        inputs = [values[n] for n in inbound_names(entry)]
        x = inputs[0]
        if cls == "Conv2D":
            y = conv2d(x, cfg, weights_of(f, name))
        elif cls == "BatchNormalization":
            y = batch_norm(x, cfg, weights_of(f, name))
        elif cls == "Activation":
            y = activation(x, cfg["activation"])
        elif cls == "Add":
            y = sum(inputs[1:], inputs[0])
        elif cls == "AveragePooling2D":
            y = average_pool(x, cfg)
        elif cls == "Flatten":
            y = flatten_nhwc(x)
        elif cls == "Dense":
            w = weights_of(f, name)
            logits = x @ w["kernel"] + w["bias"]
            y = activation(logits, cfg["activation"])
        else:
            raise ValueError("layer class " + cls)
        values[name] = y
    return logits, y


def main():
    with h5py.File(sys.argv[1], "r") as f:
        logits, probabilities = forward(f, input_batch())
    print("# Expected outputs of mlcommons_tiny_trainedResnet_k3.7.h5 for the input of")
    print("# tests/worker/resnet_reference.py (torch %s, float64): per row, 10 logits"
          " then 10 softmax probabilities." % torch.__version__)
    for row in range(INPUT_ROWS):
        numbers = list(logits[row].tolist()) + list(probabilities[row].tolist())
        print(" ".join("%.9g" % v for v in numbers))


if __name__ == "__main__":
    main()
