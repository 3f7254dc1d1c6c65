#!/usr/bin/env python3
"""Reference values of Keras's gelu for tests/kernels/gelu_test.cc, in pure
Python (math.erf, double precision): x, gelu(x), gelu'(x) for approximate=False
(0.5 x (1 + erf(x / sqrt 2))) and approximate=True
(0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))). Prints C++ initializers."""
import math

XS = [-8.0, -3.0, -1.5, -0.5, -0.1, 0.0, 0.2, 0.7, 1.0, 2.5, 4.0]
C = math.sqrt(2.0 / math.pi)


def gelu(x):
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def gelu_grad(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))) + x * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + math.tanh(C * (x + 0.044715 * x ** 3)))


def gelu_tanh_grad(x):
    t = math.tanh(C * (x + 0.044715 * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044715 * x * x)


for name, f, g in (("kErfForm", gelu, gelu_grad), ("kTanhForm", gelu_tanh, gelu_tanh_grad)):
    print("const GeluCase %s[] = {" % name)
    for x in XS:
        print("    {%r, %.17g, %.17g}," % (x, f(x), g(x)))
    print("};")
