#!/usr/bin/python3
"""torch.save / torch.load of the tensors of checkpoint_bench's model (weights
and two Adam slots of 784 → W → W → 10), for bench/run_checkpoint_bench.sh.

Usage: torch_checkpoint.py save|load PATH WIDTH
Prints "torch_save_seconds S" (including fsync) or "torch_load_seconds S".
"""
import os
import sys
import time

import torch


def tensors(width):
    shapes = [(784, width), (width,), (width, width), (width,), (width, 10), (10,)]
    # As in our checkpoint: random weights, Adam slots still zero (no step yet).
    generator = torch.Generator().manual_seed(1)
    out = {}
    for slot in ("w", "m", "v"):
        for k, shape in enumerate(shapes):
            if slot == "w":
                out[f"{slot}{k}"] = torch.rand(shape, generator=generator) * 0.04 - 0.02
            else:
                out[f"{slot}{k}"] = torch.zeros(shape, dtype=torch.float32)
    return out


def main():
    mode, path, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "save":
        state = tensors(width)
        start = time.perf_counter()
        with open(path, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        print(f"torch_save_seconds {time.perf_counter() - start:.3f}")
    else:
        start = time.perf_counter()
        state = torch.load(path)
        total = sum(t.numel() for t in state.values())
        print(f"torch_load_seconds {time.perf_counter() - start:.3f} ({total} floats)")


if __name__ == "__main__":
    main()
