#!/usr/bin/env python3
"""Reference values for loss_test.cc (binary cross-entropy and class weights),
computed independently from Keras 3's formulas in double precision with plain
Python (NumPy is not needed):
  keras/src/losses/losses.py binary_crossentropy: y_true smoothed to
    y (1 - s) + s / 2, then the mean over the last axis of
  keras/src/backend/tensorflow/nn.py binary_crossentropy: from logits,
    tf.nn.sigmoid_cross_entropy_with_logits = max(x, 0) - x z + log1p(exp(-|x|))
    (gradient sigmoid(x) - z); from probabilities, p clipped to
    [1e-7, 1 - 1e-7] and -(z log p + (1 - z) log(1 - p)) (gradient
    (1 - z) / (1 - p) - z / p inside the clip range, 0 outside);
  keras/src/trainers/data_adapters/data_adapter_utils.py
    class_weight_to_sample_weights: each example weighted by its class's weight;
  keras/src/losses/loss.py reduce_values, "sum_over_batch_size": the weighted
    sum divided by the number of examples (not by the sum of the weights).
Run: python3 tests/worker/loss_reference.py"""
import math
import struct


def f32(x):
    """x rounded to float32, as the test's inputs and Keras's clip bounds are."""
    return struct.unpack("f", struct.pack("f", x))[0]


EPS = f32(1e-7)
HIGH = f32(1 - EPS)  # 1 - epsilon in float32: 0.99999988


def bce_logit(x, z):
    return max(x, 0.0) - x * z + math.log1p(math.exp(-abs(x)))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def bce_prob(p, z):
    q = min(max(p, EPS), HIGH)
    return -(z * math.log(q) + (1 - z) * math.log(1 - q))


def bce_prob_grad(p, z):
    if p < EPS or p > HIGH:
        return 0.0
    return (1 - z) / (1 - p) - z / p


def show(name, values):
    print(name, "= {" + ", ".join("%.9g" % v for v in values) + "}")


def binary(name, outputs, labels, smoothing, from_logits):
    n = len(outputs)
    outputs = [f32(v) for v in outputs]
    targets = [y * (1 - smoothing) + 0.5 * smoothing for y in labels]
    if from_logits:
        losses = [bce_logit(x, z) for x, z in zip(outputs, targets)]
        grads = [(sigmoid(x) - z) / n for x, z in zip(outputs, targets)]
    else:
        losses = [bce_prob(p, z) for p, z in zip(outputs, targets)]
        grads = [bce_prob_grad(p, z) / n for p, z in zip(outputs, targets)]
    print("//", name)
    show("  losses", losses)
    show("  mean", [sum(losses) / n])
    show("  grads", grads)


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def weighted_sparse(rows, labels, class_weight):
    n = len(rows)
    rows = [[f32(v) for v in r] for r in rows]
    weights = [class_weight.get(y, 1.0) for y in labels]
    losses = [-math.log(softmax(r)[y]) for r, y in zip(rows, labels)]
    grads = []
    for r, y, w in zip(rows, labels, weights):
        s = softmax(r)
        grads += [w * (s[c] - (1 if c == y else 0)) / n for c in range(len(r))]
    print("// sparse_categorical_crossentropy from logits, class_weight", class_weight)
    show("  weighted sum", [sum(w * l for w, l in zip(weights, losses))])
    show("  sum_over_batch_size", [sum(w * l for w, l in zip(weights, losses)) / n])
    show("  grads", grads)


binary("from logits", [-20, -2, -0.5, 0, 0.5, 3, 20], [0, 1, 0, 1, 1, 0, 1], 0.0, True)
binary("from logits, label_smoothing 0.2", [-2, 0.5, 3], [1, 1, 0], 0.2, True)
binary("from probabilities", [1e-9, 0.1, 0.5, 0.9, 1.0, 0.999], [0, 1, 0, 1, 0, 1], 0.0, False)
binary("from probabilities, label_smoothing 0.2", [0.1, 0.9], [0, 1], 0.2, False)
weighted_sparse([[1, 2, 0.5], [0, 0, 0], [-1, 3, 2]], [0, 1, 2], {0: 2.0, 2: 0.5})


def weighted_binary(outputs, labels, class_weight):
    n = len(outputs)
    outputs = [f32(v) for v in outputs]
    weights = [class_weight.get(y, 1.0) for y in labels]
    losses = [bce_logit(x, y) for x, y in zip(outputs, labels)]
    print("// binary_crossentropy from logits, class_weight", class_weight)
    show("  unweighted sum", [sum(losses)])
    show("  weighted sum", [sum(w * l for w, l in zip(weights, losses))])
    show("  grads", [w * (sigmoid(x) - y) / n for x, y, w in zip(outputs, labels, weights)])


weighted_binary([0.5, -1], [1, 0], {1: 3.0})
