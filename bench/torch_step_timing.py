"""What the PyTorch peers of the CPU step benchmarks (pytorch_mlp.py,
torch_cnn.py) share: the flags, synthetic uint8 images and labels, the step
(batch gather, forward, sparse CE from logits, backward, Adam 1e-3 with
Keras's epsilon) and its timing, as bench/step_timing.h times ours (5 warm-up
steps, then at least `--seconds` and 3 steps). Prints
"pytorch batch=B examples_per_sec=X step_ms=Y"."""
import argparse
import time

import torch


def time_training_step(description, build_model, example_shape, default_batch):
    """Times build_model()'s training step on examples of example_shape."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batch", type=int, default=default_batch)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    n = 60000
    images = torch.randint(0, 256, (n, *example_shape), dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), dtype=torch.int64)
    model = build_model()
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
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), labels[index]).backward()
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
