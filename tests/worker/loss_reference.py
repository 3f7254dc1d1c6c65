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


# ---- VECTOR labels (loss::Targets with width > 0) ----
# keras/src/losses/losses.py categorical_crossentropy: y smoothed to
#   y (1 - s) + s / num_classes; keras/src/backend/tensorflow/nn.py: from logits
#   (or a softmax output's logits) tf.nn.softmax_cross_entropy_with_logits =
#   sum_j y_j (logsumexp(x) - x_j), gradient softmax(x) sum_j y_j - y;
# mean_squared_error: mean over the last axis of (y - p)^2, gradient 2 (p - y) / W;
# binary_crossentropy: the mean over the last axis of the per-value loss above.
# Gradients are of the sum over rows divided by n (the trainer's global rows).


def logsumexp(row):
    m = max(row)
    return m + math.log(sum(math.exp(v - m) for v in row))


def categorical(name, rows, targets, smoothing, class_weight=None):
    n = len(rows)
    rows = [[f32(v) for v in r] for r in rows]
    width = len(rows[0])
    targets = [[f32(y) * (1 - smoothing) + smoothing / width for y in t] for t in targets]
    losses = [sum(y * (logsumexp(r) - x) for x, y in zip(r, t)) for r, t in zip(rows, targets)]
    weights = [1.0] * n
    if class_weight:
        weights = [class_weight.get(t.index(max(t)), 1.0) for t in targets]
    grads = []
    for r, t, w in zip(rows, targets, weights):
        s = softmax(r)
        grads += [w * (p * sum(t) - y) / n for p, y in zip(s, t)]
    print("// categorical_crossentropy,", name)
    show("  losses", losses)
    show("  weighted sum", [sum(w * l for w, l in zip(weights, losses))])
    show("  grads", grads)


def mse_vectors(name, preds, targets):
    n, width = len(preds), len(preds[0])
    preds = [[f32(v) for v in r] for r in preds]
    targets = [[f32(v) for v in t] for t in targets]
    losses = [sum((p - y) ** 2 for p, y in zip(r, t)) / width for r, t in zip(preds, targets)]
    grads = [2 * (p - y) / width / n for r, t in zip(preds, targets) for p, y in zip(r, t)]
    print("// mean_squared_error,", name)
    show("  losses", losses)
    show("  grads", grads)


def binary_vectors(name, outputs, targets, smoothing, from_logits):
    n, width = len(outputs), len(outputs[0])
    outputs = [[f32(v) for v in r] for r in outputs]
    targets = [[f32(y) * (1 - smoothing) + 0.5 * smoothing for y in t] for t in targets]
    per = bce_logit if from_logits else bce_prob
    losses = [sum(per(x, z) for x, z in zip(r, t)) / width for r, t in zip(outputs, targets)]
    if from_logits:
        grads = [(sigmoid(x) - z) / width / n for r, t in zip(outputs, targets) for x, z in zip(r, t)]
    else:
        grads = [bce_prob_grad(p, z) / width / n
                 for r, t in zip(outputs, targets) for p, z in zip(r, t)]
    print("// binary_crossentropy multi-label,", name)
    show("  losses", losses)
    show("  grads", grads)


CCE_ROWS = [[1, 2, 0.5], [0, -1, 3], [0.5, 0.5, -1]]
CCE_TARGETS = [[0, 1, 0], [0, 0, 1], [0.2, 0.3, 0.5]]
categorical("one-hot and soft targets", CCE_ROWS, CCE_TARGETS, 0.0)
categorical("label_smoothing 0.1", CCE_ROWS, CCE_TARGETS, 0.1)
categorical("class_weight {1: 2, 2: 0.5}", CCE_ROWS, CCE_TARGETS, 0.0, {1: 2.0, 2: 0.5})
mse_vectors("width 3", [[0.5, -1, 2], [0, 0, 0]], [[1, 0, 2], [0.5, 0.5, -1]])
binary_vectors("from logits, width 3", [[-1, 0.5, 2], [3, -2, 0]], [[0, 1, 1], [1, 0, 0.5]],
               0.0, True)
binary_vectors("from logits, width 3, label_smoothing 0.2", [[-1, 0.5, 2], [3, -2, 0]],
               [[0, 1, 1], [1, 0, 0.5]], 0.2, True)
binary_vectors("from probabilities, width 2", [[0.2, 0.9], [0.6, 1.0]], [[0, 1], [1, 0]],
               0.0, False)


# ---- one SGD step of a 2-3 linear dense layer on VECTOR labels
# (tests/worker/vector_training_test.cc): logits = x K + b, the loss's gradient
# g (rows, 3) of the batch mean, dK = x^T g, db = sum_r g, w -= rate * dw.
STEP_KERNEL = [[0.1, -0.2, 0.3], [0.4, 0.0, -0.5]]
STEP_BIAS = [0.05, -0.05, 0.0]
STEP_X = [[1, 2], [-1, 0.5]]
STEP_RATE = 0.5


def sgd_step(name, targets, output_grad, loss_of):
    kernel = [[f32(v) for v in r] for r in STEP_KERNEL]
    bias = [f32(v) for v in STEP_BIAS]
    n = len(STEP_X)
    logits = [[sum(x[i] * kernel[i][j] for i in range(2)) + bias[j] for j in range(3)]
              for x in STEP_X]
    g = [output_grad(r, t, n) for r, t in zip(logits, targets)]
    new_kernel = [kernel[i][j] - STEP_RATE * sum(STEP_X[r][i] * g[r][j] for r in range(n))
                  for i in range(2) for j in range(3)]
    new_bias = [bias[j] - STEP_RATE * sum(g[r][j] for r in range(n)) for j in range(3)]
    print("// one SGD step,", name)
    show("  loss sum", [sum(loss_of(r, t) for r, t in zip(logits, targets))])
    show("  kernel", new_kernel)
    show("  bias", new_bias)


sgd_step("categorical_crossentropy from logits", [[0, 0, 1], [0.25, 0.75, 0]],
         lambda r, t, n: [(p * sum(t) - y) / n for p, y in zip(softmax(r), t)],
         lambda r, t: sum(y * (logsumexp(r) - x) for x, y in zip(r, t)))
sgd_step("binary_crossentropy from logits, 3 labels", [[1, 0, 1], [0, 1, 0.5]],
         lambda r, t, n: [(sigmoid(x) - y) / 3 / n for x, y in zip(r, t)],
         lambda r, t: sum(bce_logit(x, y) for x, y in zip(r, t)) / 3)
sgd_step("mean_squared_error, 3 values", [[0.5, -1, 2], [0, 0.25, 1]],
         lambda r, t, n: [2 * (x - y) / 3 / n for x, y in zip(r, t)],
         lambda r, t: sum((x - y) ** 2 for x, y in zip(r, t)) / 3)
