#!/usr/bin/python3
"""The peer of cnn_bench: PyTorch (Debian python3-torch) training the reference
CNN of configs/fashion_cnn.textproto on synthetic 28x28x1 images:
Conv2D(32, 3, relu) -> BatchNorm -> MaxPool 2 -> Conv2D(64, 3, relu) -> BatchNorm
-> MaxPool 2 -> Flatten -> Dropout(0.5) -> Dense(10), Adam 1e-3, sparse CE from
logits; NCHW, PyTorch's native layout; BatchNorm2d with Keras's epsilon 1e-3 and
momentum 0.99 (PyTorch's momentum 0.01). One step = batch gather, forward, loss,
backward, Adam (bench/torch_step_timing.py).
Prints the same line format as cnn_bench:
"pytorch batch=B examples_per_sec=X step_ms=Y"."""
import torch

from torch_step_timing import time_training_step


def reference_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(32, 1e-3, 0.01),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(64, 1e-3, 0.01),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(1600, 10))


if __name__ == "__main__":
    time_training_step(__doc__, reference_cnn, (1, 28, 28), default_batch=64)
