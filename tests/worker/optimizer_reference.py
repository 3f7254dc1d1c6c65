#!/usr/bin/env python3
"""Reference values for optimizer_schedule_test.cc, computed independently from
Keras 3's formulas (keras/src/optimizers/schedules/learning_rate_schedule.py and
keras/src/optimizers/base_optimizer.py: _clip_by_norm, clip_by_global_norm,
_apply_weight_decay; adam.py), in double precision with plain Python.
Run: python3 tests/worker/optimizer_reference.py"""
import math


def exponential(lr, steps, rate, stair, t):
    p = t / steps
    return lr * rate ** (math.floor(p) if stair else p)


def inverse_time(lr, steps, rate, stair, t):
    p = t / steps
    return lr / (1 + rate * (math.floor(p) if stair else p))


def piecewise(bounds, values, t):
    for b, v in zip(bounds, values):
        if t <= b:
            return v
    return values[-1]


def cosine(lr, steps, alpha, t, target=None, warmup=0):
    def decay(s, frm):
        s = min(s, steps)
        return frm * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / steps)) + alpha)
    if target is None:
        return decay(t, lr)
    t = min(t, steps + warmup)
    if t < warmup:
        return (target - lr) * t / warmup + lr
    return decay(t - warmup, target)


def show(name, values):
    print(name, "{" + ", ".join("%.9g" % v for v in values) + "}")


steps = [0, 1, 5, 10, 15, 37]
show("exponential", [exponential(0.1, 10, 0.5, False, t) for t in steps])
show("exponential_staircase", [exponential(0.1, 10, 0.5, True, t) for t in steps])
show("inverse_time", [inverse_time(0.1, 5, 0.5, False, t) for t in steps])
show("inverse_time_staircase", [inverse_time(0.1, 5, 0.5, True, t) for t in steps])
show("piecewise", [piecewise([3, 7], [1.0, 0.5, 0.1], t) for t in [0, 3, 4, 7, 8, 100]])
show("cosine", [cosine(0.1, 10, 0.1, t) for t in [0, 3, 5, 10, 20]])
show("cosine_warmup", [cosine(0.0, 8, 0.0, t, 0.2, 4) for t in [0, 1, 2, 4, 6, 12, 20]])

# Clipping of two variables' gradients, a = [3, 4] (norm 5) and b = [1, 2, 2] (norm 3).
a, b = [3.0, 4.0], [1.0, 2.0, 2.0]
show("clipnorm_2", [g * 2 / max(5, 2) for g in a] + [g * 2 / max(3, 2) for g in b])
norm = math.sqrt(sum(g * g for g in a + b))  # sqrt(34)
scale = 2 * min(1 / norm, 1 / 2)
show("global_clipnorm_2", [g * scale for g in a + b])
show("clipvalue_1.5", [max(-1.5, min(1.5, g)) for g in [3.0, -4.0, 1.0, -2.0, 0.5]])

# AdamW (weight_decay 0.1, lr 0.01): two steps from w = [1, -2], gradients
# [0.5, 0.25] then [-1, 2].
w, m, v = [1.0, -2.0], [0.0, 0.0], [0.0, 0.0]
for t, g in enumerate([[0.5, 0.25], [-1.0, 2.0]], start=1):
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-7
    w = [x - x * wd * lr for x in w]
    alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    m = [mi + (gi - mi) * (1 - b1) for mi, gi in zip(m, g)]
    v = [vi + (gi * gi - vi) * (1 - b2) for vi, gi in zip(v, g)]
    w = [x - mi * alpha / (math.sqrt(vi) + eps) for x, mi, vi in zip(w, m, v)]
show("adamw_two_steps", w)

# SGD with ExponentialDecay(0.1, 2, 0.5) and global_clipnorm 1 on g = [3, 4]:
# three steps from w = 0; the rate of step t is the schedule at t.
w = [0.0, 0.0]
for t in range(3):
    g = [3.0 * 0.2, 4.0 * 0.2]  # clipped to norm 1
    lr = exponential(0.1, 2, 0.5, False, t)
    w = [x - lr * gi for x, gi in zip(w, g)]
show("sgd_schedule_clip_three_steps", w)
print("rate_after_three", "%.9g" % exponential(0.1, 2, 0.5, False, 3))
