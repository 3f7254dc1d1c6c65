#!/usr/bin/python3
"""The peer of train_bench: PyTorch (Debian python3-torch) training the same
reference MLP (784-512 relu, dropout 0.2, 512-10, Adam 1e-3, sparse CE from
logits) on synthetic data, 2 threads. Prints the same line format as
train_bench: "pytorch batch=B examples_per_sec=X step_ms=Y"."""
import argparse
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    n = 60000
    images = torch.randint(0, 256, (n, 784), dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), dtype=torch.int64)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(512, 10))
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
    for _ in range(20):
        step()
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        step()
        steps += 1
    step_seconds = (time.perf_counter() - start) / steps
    print(f"pytorch batch={args.batch} examples_per_sec={args.batch / step_seconds:.0f} "
          f"step_ms={step_seconds * 1e3:.4f}")


if __name__ == "__main__":
    main()
