#!/usr/bin/python3
"""The peer of cnn_bench: PyTorch (Debian python3-torch) training the reference
CNN of configs/fashion_cnn.textproto on synthetic 28x28x1 images:
Conv2D(32, 3, relu) -> BatchNorm -> MaxPool 2 -> Conv2D(64, 3, relu) -> BatchNorm
-> MaxPool 2 -> Flatten -> Dropout(0.5) -> Dense(10), Adam 1e-3, sparse CE from
logits; NCHW, PyTorch's native layout; BatchNorm2d with Keras's epsilon 1e-3 and
momentum 0.99 (PyTorch's momentum 0.01). One step = batch gather, forward, loss, backward, Adam.
Prints the same line format as cnn_bench:
"pytorch batch=B examples_per_sec=X step_ms=Y"."""
import argparse
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    n = 60000
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), dtype=torch.int64)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(32, 1e-3, 0.01),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(64, 1e-3, 0.01),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(1600, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(n)
    position = 0

    def step():
        nonlocal position
        if position + args.batch > n:
            position = 0
        index = order[position:position + args.batch]
        position += args.batch
        x = images[index].float() / 255.0
        y = labels[index]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    model.train()
    for _ in range(5):
        step()
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds or steps < 3:
        step()
        steps += 1
    step_seconds = (time.perf_counter() - start) / steps
    print(f"pytorch batch={args.batch} examples_per_sec={args.batch / step_seconds:.0f} "
          f"step_ms={step_seconds * 1e3:.4f}")


if __name__ == "__main__":
    main()
