#!/usr/bin/python3
"""Compares two float32 .npy prediction files (rows x classes) without numpy.

Usage: compare_npy.py A.npy B.npy TOLERANCE
Prints the largest absolute difference and the argmax agreement; exits 1 when
the shapes differ or any value differs by more than TOLERANCE.
"""
import ast
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    header_len = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + header_len].decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"]:
        sys.exit(f"{path}: expected little-endian float32 C order, got {header}")
    rows, cols = header["shape"]
    values = struct.unpack(f"<{rows * cols}f", data[10 + header_len:])
    return rows, cols, values


def main():
    a_path, b_path, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ra, ca, a = load(a_path)
    rb, cb, b = load(b_path)
    if (ra, ca) != (rb, cb):
        print(f"shape {ra}x{ca} vs {rb}x{cb}")
        return 1
    worst = max(abs(x - y) for x, y in zip(a, b))
    agree = sum(
        max(range(ca), key=lambda j: a[i * ca + j]) == max(range(cb), key=lambda j: b[i * cb + j])
        for i in range(ra))
    print(f"max |diff| {worst:.3g} over {ra}x{ca}; argmax agrees on {agree}/{ra}")
    return 0 if worst <= tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
