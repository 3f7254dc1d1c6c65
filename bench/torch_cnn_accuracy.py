#!/usr/bin/python3
"""The recipe of configs/fashion_cnn.textproto in PyTorch (Debian python3-torch):
an independent check that the model, optimizer, batch size and epochs reach the
target test accuracy (issue 23 point 4: >= 0.91 within 10 epochs).

Model (Keras layout, channels_last in Keras, NCHW here):
  Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) -> MaxPooling2D(2)
  -> Flatten -> Dropout(0.5) -> Dense(10) logits; sparse CE from logits; Adam
  (--batch-norm: a BatchNormalization after each Conv2D, as the config has,
  Keras's epsilon 1e-3 and momentum 0.99)
  (Keras defaults, epsilon 1e-7); Keras initializers (glorot_uniform, zero bias);
  --cosine: the learning rate follows Keras's CosineDecay(lr, decay_steps = the
  run's steps, alpha 0), stepped with the optimizer's update count.
Data: Fashion-MNIST from /usr/share/datasets/fashion-mnist, pixels / 255,
shuffled every epoch. Prints one line per epoch with the test accuracy.
The config's recipe: --batch 32 --lr 2e-3 --cosine --batch-norm.
Usage: torch_cnn_accuracy.py [--epochs 10] [--batch 64] [--lr 1e-3] [--cosine]
       [--batch-norm] [--threads 2]"""
import argparse
import gzip
import math
import time

import numpy as np
import torch

SOURCE = "/usr/share/datasets/fashion-mnist"


def load_split(prefix):
    with gzip.open(f"{SOURCE}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{SOURCE}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return (torch.from_numpy(images.astype(np.float32) / 255.0),
            torch.from_numpy(labels.astype(np.int64)))


def fashion_cnn(batch_norm):
    """The model with Keras's initializers (glorot_uniform kernels, zero biases)."""
    def norm(channels):
        return [torch.nn.BatchNorm2d(channels, 1e-3, 0.01)] if batch_norm else []
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), *norm(32), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), *norm(64), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(1600, 10))
    for layer in model:
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(layer.weight)  # fans as Keras's for conv kernels
            torch.nn.init.zeros_(layer.bias)
    return model


def evaluate(model, images, labels):
    model.eval()
    correct = 0
    loss = 0.0
    with torch.no_grad():
        for start in range(0, len(labels), 1000):
            logits = model(images[start:start + 1000])
            target = labels[start:start + 1000]
            loss += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    model.train()
    return correct / len(labels), loss / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-norm", action="store_true",
                        help="a BatchNormalization after each Conv2D (the config's model)")
    parser.add_argument("--cosine", action="store_true",
                        help="cosine decay of the learning rate to 0 over the run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load_split("train")
    test_x, test_y = load_split("t10k")
    model = fashion_cnn(args.batch_norm)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    decay_steps = args.epochs * math.ceil(len(train_y) / args.batch)
    # Keras CosineDecay(alpha=0): lr * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)).
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
        if args.cosine else 1.0)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(train_y))
        for first in range(0, len(order), args.batch):
            index = order[first:first + args.batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(train_x[index]), train_y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy, test_loss = evaluate(model, test_x, test_y)
        print(f"epoch={epoch} test_accuracy={accuracy:.4f} test_loss={test_loss:.4f} "
              f"seconds={time.perf_counter() - start:.1f}", flush=True)


if __name__ == "__main__":
    main()
