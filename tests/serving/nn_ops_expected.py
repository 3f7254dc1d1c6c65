#!/usr/bin/python3
"""Expected values of tests/serving/nn_ops_test.cc, computed independently
with PyTorch (NCHW; TF's SAME padding applied by hand: out = ceil(in/stride),
pad_total = max((out-1)*stride + window - in, 0), pad_top = pad_total // 2,
the extra row/column at the bottom/right; AvgPool counts only real inputs).
Run: /usr/bin/python3 tests/serving/nn_ops_expected.py"""
import math

import torch
import torch.nn.functional as F


def same_pad(size, window, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def nchw(x_nhwc):
    return x_nhwc.permute(0, 3, 1, 2)


def nhwc(x_nchw):
    return x_nchw.permute(0, 2, 3, 1).flatten().tolist()


x = torch.arange(1, 10, dtype=torch.float64).reshape(1, 3, 3, 1)
# filter (kh, kw, in, out): channel 0 = [[1, 0], [0, 1]], channel 1 = [[1, 2], [3, 4]]
w = torch.tensor([[[[1, 1]], [[0, 2]]], [[[0, 3]], [[1, 4]]]], dtype=torch.float64)
w_oihw = w.permute(3, 2, 0, 1)
print("conv2d valid:", nhwc(F.conv2d(nchw(x), w_oihw)))
top, bottom = same_pad(3, 2, 2)
padded = F.pad(nchw(x), (top, bottom, top, bottom))
print("conv2d same stride 2:", nhwc(F.conv2d(padded, w_oihw, stride=2)))

neg = -x
padded = F.pad(nchw(neg), (top, bottom, top, bottom), value=-math.inf)
print("max_pool same stride 2 of -x:", nhwc(F.max_pool2d(padded, 2, stride=2)))
sums = F.avg_pool2d(F.pad(nchw(x), (top, bottom, top, bottom)), 2, stride=2, divisor_override=1)
counts = F.avg_pool2d(F.pad(torch.ones_like(nchw(x)), (top, bottom, top, bottom)), 2, stride=2,
                      divisor_override=1)
print("avg_pool same stride 2:", nhwc(sums / counts))

y = torch.arange(1, 9, dtype=torch.float64).reshape(1, 2, 2, 2)
print("mean [1, 2]:", y.mean(dim=(1, 2)).flatten().tolist())

bn_x = torch.tensor([1, 2, 3, 4], dtype=torch.float64).reshape(1, 1, 2, 2)
out = F.batch_norm(nchw(bn_x), torch.tensor([2.0, 3.0], dtype=torch.float64),
                   torch.tensor([4.0, 1.0], dtype=torch.float64),
                   torch.tensor([2.0, 1.0], dtype=torch.float64),
                   torch.tensor([0.5, -1.0], dtype=torch.float64), training=False, eps=0.0)
print("batch_norm:", nhwc(out))

a = torch.tensor([1, 2], dtype=torch.float64).reshape(1, 2, 1)
b = torch.tensor([3, 4, 5, 6], dtype=torch.float64).reshape(1, 2, 2)
print("concat axis -1:", torch.cat([a, b], dim=-1).flatten().tolist())
