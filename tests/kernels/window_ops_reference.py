#!/usr/bin/env python3
"""Reference values for tests/kernels/conv_test.cc and pooling_test.cc, from
PyTorch (float64): TF "SAME" padding is applied explicitly with F.pad (the odd
pad at the bottom/right), then a valid conv / pool. Gradients by autograd of
sum(dy * y). Inputs are small formulas so the C++ test can rebuild them.
Run: /usr/bin/python3 tests/kernels/window_ops_reference.py"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def formula(n, a, b, m, scale):
    """Value i of an n-vector: ((a * i + b) % m - m // 2) * scale."""
    return torch.tensor([((a * i + b) % m - m // 2) * scale for i in range(n)])


def fmt(name, t):
    vals = ", ".join("%.9g" % v for v in t.flatten().tolist())
    print("const std::vector<double> %s = {%s};" % (name, vals))


def conv_case():
    # x (1, 4, 4, 2) NHWC, kernel (3, 3, 2, 2) HWIO, stride 2, SAME:
    # out = 2, pad total = (2 - 1) * 2 + 3 - 4 = 1 -> top/left 0, bottom/right 1.
    x = formula(32, 7, 3, 11, 0.25).reshape(1, 4, 4, 2).requires_grad_()
    w = formula(36, 5, 1, 9, 0.125).reshape(3, 3, 2, 2).requires_grad_()
    b = torch.tensor([0.5, -1.0], requires_grad=True)
    xp = F.pad(x.permute(0, 3, 1, 2), (0, 1, 0, 1))  # (left, right, top, bottom)
    y = F.conv2d(xp, w.permute(3, 2, 0, 1), b, stride=2).permute(0, 2, 3, 1)
    dy = formula(8, 3, 2, 7, 0.5).reshape(y.shape)
    (y * dy).sum().backward()
    fmt("kConvY", y.detach())
    fmt("kConvDx", x.grad)
    fmt("kConvDw", w.grad)
    fmt("kConvDb", b.grad)


def pool_case():
    # x (1, 5, 5, 2), window 3x3, stride 2, SAME: out = 3, pad total =
    # 2 * 2 + 3 - 5 = 2 -> top/left 1, bottom/right 1. Also window 2x2 stride 2
    # SAME on 5: out 3, pad total 1 -> top 0, bottom 1.
    for tag, window, pads in (("3", 3, (1, 1, 1, 1)), ("2", 2, (0, 1, 0, 1))):
        x = formula(50, 7, 3, 13, 0.5).reshape(1, 5, 5, 2).requires_grad_()
        xn = x.permute(0, 3, 1, 2)
        ymax = F.max_pool2d(F.pad(xn, pads, value=float("-inf")), window, 2)
        sums = F.avg_pool2d(F.pad(xn, pads), window, 2, divisor_override=1)
        counts = F.avg_pool2d(F.pad(torch.ones_like(xn), pads), window, 2, divisor_override=1)
        yavg = sums / counts
        dy = formula(18, 5, 1, 7, 0.5).reshape(1, 3, 3, 2).permute(0, 3, 1, 2)
        gmax, = torch.autograd.grad((ymax * dy).sum(), x)
        gavg, = torch.autograd.grad((yavg * dy).sum(), x)
        fmt("kMax%sY" % tag, ymax.permute(0, 2, 3, 1).detach())
        fmt("kMax%sDx" % tag, gmax)
        fmt("kAvg%sY" % tag, yavg.permute(0, 2, 3, 1).detach())
        fmt("kAvg%sDx" % tag, gavg)


conv_case()
pool_case()
