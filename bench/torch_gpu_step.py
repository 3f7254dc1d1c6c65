#!/usr/bin/python3
"""PyTorch eager on the same GPU, the peer of bench/gpu_step_bench.cc: the
reference MLP (Linear 784→512, ReLU, Dropout 0.2, Linear 512→10, cross-entropy
from logits, Adam) on device-resident random data, examples/s at batch 32, 256
and 4096 (fp32, TF32 off). Run by scripts/gpu-check.sh."""
import time

import torch


def main():
    if not torch.cuda.is_available():
        raise SystemExit("torch_gpu_step: no CUDA device visible")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(512, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    print("| batch | step µs | examples/s |\n|---:|---:|---:|")
    for batch in (32, 256, 4096):
        x = torch.rand(batch, 784, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        steps = 50 if batch >= 4096 else 500

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / steps
        print(f"| {batch} | {seconds * 1e6:.1f} | {batch / seconds:.0f} |")


if __name__ == "__main__":
    main()
