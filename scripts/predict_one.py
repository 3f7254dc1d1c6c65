#!/usr/bin/env python3
"""Sends one Fashion-MNIST test image to a running `shardtrain serve` and prints
the predicted class (used by scripts/demo.sh; standard library only).

Usage: predict_one.py URL [INDEX]   e.g. http://127.0.0.1:8501/v1/models/fashion:predict
"""
import gzip
import json
import sys
import urllib.request

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
SOURCE = "/usr/share/datasets/fashion-mnist"


def main():
    url = sys.argv[1]
    index = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with gzip.open(f"{SOURCE}/t10k-images-idx3-ubyte.gz") as f:
        f.seek(16 + 784 * index)
        pixels = [b / 255.0 for b in f.read(784)]
    with gzip.open(f"{SOURCE}/t10k-labels-idx1-ubyte.gz") as f:
        f.seek(8 + index)
        label = f.read(1)[0]
    body = json.dumps({"instances": [pixels]}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        prediction = json.load(response)["predictions"][0]
    scores = prediction["probabilities"] if isinstance(prediction, dict) else prediction
    best = max(range(len(scores)), key=lambda k: scores[k])
    print(f"test image {index}: predicted class {best} ({CLASSES[best]}, p={scores[best]:.3f}); "
          f"true class {label} ({CLASSES[label]})")


if __name__ == "__main__":
    main()
