#!/usr/bin/env python3
"""Reference values for tests/worker/metrics_test.cc, in plain Python.

Each function follows the definition in Keras 3 (keras/src/metrics/), written
from the documented formula rather than from our C++ (NumPy does not import on
the development machine, so this is plain Python; float32 steps are emulated
with struct where Keras computes in float32). Run it and paste the printed
values into the test:

    python3 tests/worker/metrics_reference.py
"""
import math
import struct


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def sigmoid32(x):
    return f32(1.0 / (1.0 + f32(math.exp(-f32(x)))))


def in_top_k(row, label, k):
    """tf.math.in_top_k: ties at the k-th value count as inside."""
    if any(not math.isfinite(v) for v in row):
        return False
    return sum(1 for v in row if v > row[label]) < k


def sparse_top_k(rows, labels, k):
    return sum(in_top_k(r, y, k) for r, y in zip(rows, labels)) / len(rows)


def mae(preds, labels):
    return sum(abs(f32(y - p)) for p, y in zip(preds, labels)) / len(preds)


def confusion(preds, labels, threshold):
    tp = sum(1 for p, y in zip(preds, labels) if p > threshold and y != 0)
    fp = sum(1 for p, y in zip(preds, labels) if p > threshold and y == 0)
    fn = sum(1 for p, y in zip(preds, labels) if not p > threshold and y != 0)
    tn = sum(1 for p, y in zip(preds, labels) if not p > threshold and y == 0)
    return tp, fp, fn, tn


def divide_no_nan(a, b):
    return a / b if b != 0 else 0.0


def precision(preds, labels):
    tp, fp, _, _ = confusion(preds, labels, 0.5)
    return divide_no_nan(tp, tp + fp)


def recall(preds, labels):
    tp, _, fn, _ = confusion(preds, labels, 0.5)
    return divide_no_nan(tp, tp + fn)


def auc(preds, labels, num_thresholds=200):
    """keras.metrics.AUC() defaults: ROC, interpolation; predictions clipped
    to [0, 1]; thresholds [-1e-7, 1/199, ..., 198/199, 1 + 1e-7]."""
    eps = 1e-7
    thresholds = ([0.0 - eps] +
                  [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] +
                  [1.0 + eps])
    preds = [min(max(p, 0.0), 1.0) for p in preds]
    tpr, fpr = [], []
    for t in thresholds:
        tp, fp, fn, tn = confusion(preds, labels, t)
        tpr.append(divide_no_nan(tp, tp + fn))
        fpr.append(divide_no_nan(fp, fp + tn))
    return sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2
               for i in range(num_thresholds - 1))


def binary_accuracy(preds, labels):
    return sum(1 for p, y in zip(preds, labels) if (1 if p > 0.5 else 0) == y) / len(preds)


# The test's data (copied into metrics_test.cc).
TOPK_ROWS = [[0.1, 0.5, 0.2, 0.2, 0.0],
             [0.3, 0.3, 0.3, 0.05, 0.05],
             [0.0, 0.1, 0.2, 0.3, 0.4],
             [0.25, 0.25, 0.1, 0.2, 0.2],
             [0.9, 0.0, 0.05, 0.05, 0.0],
             [0.2, 0.2, 0.2, 0.2, 0.2]]
TOPK_LABELS = [2, 2, 0, 4, 1, 3]
PROBS = [0.1, 0.4, 0.35, 0.8, 0.65, 0.7, 0.2, 0.05, 0.5, 0.95, 0.0, 1.0]
BINARY_LABELS = [0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0]
LOGITS = [-2.0, 0.25, -0.5, 1.5, 3.0, -1.0, 0.0, 0.75]
LOGIT_LABELS = [0, 1, 1, 1, 1, 0, 1, 0]
MAE_PREDS = [0.25, 0.5, 1.5, -0.75, 0.125, 0.9]
MAE_LABELS = [0, 1, 1, 0, 0, 1]


# VECTOR labels (one-hot, soft or multi-label targets): Keras's
# categorical_accuracy compares argmax(y_pred) with argmax(y_true) (first
# maxima); top_k_categorical_accuracy is in_top_k on argmax(y_true);
# mean_absolute_error and binary_accuracy are means over the last axis per
# example (float32), then over examples; precision, recall and AUC (multi_label=False)
# flatten every value of every example, a target != 0 being positive.
def argmax(row):
    return row.index(max(row))


def categorical_accuracy(rows, targets):
    return sum(1 for r, t in zip(rows, targets) if argmax(r) == argmax(t)) / len(rows)


def top_k_categorical(rows, targets, k):
    return sparse_top_k(rows, [argmax(t) for t in targets], k)


def mae_vectors(rows, targets):
    per = [f32(sum(abs(f32(y - p)) for p, y in zip(r, t)) / len(r)) for r, t in zip(rows, targets)]
    return sum(per) / len(per)


def binary_accuracy_vectors(rows, targets):
    per = [f32(sum(1 for p, y in zip(r, t) if (1.0 if p > 0.5 else 0.0) == y) / len(r))
           for r, t in zip(rows, targets)]
    return sum(per) / len(per)


def flat(rows):
    return [v for r in rows for v in r]


VEC_ROWS = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.3, 0.3, 0.4], [0.05, 0.6, 0.35]]
VEC_TARGETS = [[0, 1, 0], [0, 0, 1], [0.2, 0.2, 0.6], [1, 0, 0]]
MULTI_ROWS = [[0.9, 0.2, 0.6], [0.4, 0.55, 0.1], [0.3, 0.8, 0.7]]
MULTI_TARGETS = [[1, 0, 1], [1, 1, 0], [0, 1, 0]]

if __name__ == "__main__":
    for k in (1, 2, 3, 5):
        print(f"top_k k={k}: {sparse_top_k(TOPK_ROWS, TOPK_LABELS, k)!r}")
    print(f"mae: {mae([f32(p) for p in MAE_PREDS], MAE_LABELS)!r}")
    probs = [f32(p) for p in PROBS]
    print(f"precision: {precision(probs, BINARY_LABELS)!r}")
    print(f"recall: {recall(probs, BINARY_LABELS)!r}")
    print(f"auc: {auc(probs, BINARY_LABELS)!r}")
    print(f"binary_accuracy: {binary_accuracy(probs, BINARY_LABELS)!r}")
    from_logits = [sigmoid32(x) for x in LOGITS]
    print(f"logits precision: {precision(from_logits, LOGIT_LABELS)!r}")
    print(f"logits recall: {recall(from_logits, LOGIT_LABELS)!r}")
    print(f"logits auc: {auc(from_logits, LOGIT_LABELS)!r}")
    print(f"keras docstring data auc: {auc([0.0, 0.5, 0.3, 0.9], [0, 0, 1, 1])!r}")
    vec_rows = [[f32(v) for v in r] for r in VEC_ROWS]
    vec_targets = [[f32(v) for v in t] for t in VEC_TARGETS]
    print(f"vector categorical_accuracy: {categorical_accuracy(vec_rows, vec_targets)!r}")
    for k in (1, 2):
        print(f"vector top_k k={k}: {top_k_categorical(vec_rows, vec_targets, k)!r}")
    print(f"vector mae: {mae_vectors(vec_rows, vec_targets)!r}")
    multi = [[f32(v) for v in r] for r in MULTI_ROWS]
    print(f"multi-label binary_accuracy: {binary_accuracy_vectors(multi, MULTI_TARGETS)!r}")
    print(f"multi-label precision: {precision(flat(multi), flat(MULTI_TARGETS))!r}")
    print(f"multi-label recall: {recall(flat(multi), flat(MULTI_TARGETS))!r}")
    print(f"multi-label auc: {auc(flat(multi), flat(MULTI_TARGETS))!r}")
