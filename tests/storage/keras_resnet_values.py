#!/usr/bin/python3
"""Prints the reference values keras_layers_test.cc checks in the real Keras 3.7
ResNet file (shared/testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5), read
independently with h5py: /usr/bin/python3 tests/storage/keras_resnet_values.py"""
import os
import sys

import h5py
import numpy as np

shared = os.environ.get("SHARDTRAIN_SHARED_DIR", "/work/shared")
path = os.path.join(shared, "testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5")
f = h5py.File(path, "r")
w = f["model_weights"]
o = f["optimizer_weights"]
np.set_printoptions(precision=9, floatmode="unique")


def show(label, values):
    print(label, ", ".join(repr(float(v)) for v in np.ravel(values)))


show("conv2d/kernel[0,0,0,:4]", w["conv2d/conv2d/kernel"][0, 0, 0, :4])
show("conv2d_8/kernel[0,0,31,60:]", w["conv2d_8/conv2d_8/kernel"][0, 0, 31, 60:])
for var in ("gamma", "beta", "moving_mean", "moving_variance"):
    show("batch_normalization_6/%s[:3]" % var,
         w["batch_normalization_6/batch_normalization_6/%s" % var][:3])
show("dense/bias", w["dense/dense/bias"][:])
print("iteration", int(o["adam/iteration"][()]))
show("learning_rate", [o["adam/learning_rate"][()]])
names = [n.decode() if isinstance(n, bytes) else n for n in o.attrs["weight_names"]]
trainable = (len(names) - 2) // 2
print("trainable weights", trainable)
show("m of batch_normalization_gamma[:3]", o["adam/batch_normalization_gamma_momentum"][:3])
show("v of dense_bias[:3]", o["adam/dense_bias_velocity"][:3])
sys.exit(0)
