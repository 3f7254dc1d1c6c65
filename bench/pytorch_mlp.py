#!/usr/bin/python3
"""The peer of train_bench: PyTorch (Debian python3-torch) training the same
reference MLP (784-512 relu, dropout 0.2, 512-10, Adam 1e-3, sparse CE from
logits) on synthetic data, 2 threads (bench/torch_step_timing.py). Prints the
same line format as train_bench: "pytorch batch=B examples_per_sec=X step_ms=Y"."""
import torch

from torch_step_timing import time_training_step


def reference_mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(512, 10))


if __name__ == "__main__":
    time_training_step(__doc__, reference_mlp, (784,), default_batch=32)
