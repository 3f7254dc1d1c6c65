#!/usr/bin/python3
"""Writes the inputs predict_test.sh feeds `shardtrain predict`, without numpy.

Usage:
  predict_inputs.py inputs IDX_IMAGES_GZ N OUTDIR   first N images as OUTDIR/u8.npy (N, 28, 28)
      uint8, f32.npy (N, 784) float32 = pixel * float32(1/255) as training scales them,
      x.csv (a header line, then those floats) and unlabeled/test-00000-of-00001.tfrecord
      (tf.train.Example with only an `image` feature)
  predict_inputs.py csv2npy IN.csv OUT.npy          a CSV of floats as a float32 .npy
  predict_inputs.py probabilities P.npy             exit 1 unless every row sums to 1 (1e-5)
"""
import gzip
import os
import struct
import sys


def write_npy(path, descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(payload)


def read_npy_floats(path):
    with open(path, "rb") as f:
        data = f.read()
    length = struct.unpack("<H", data[8:10])[0]
    body = data[10 + length:]
    return struct.unpack("<%df" % (len(body) // 4), body), data[10:10 + length].decode("latin1")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


CRC_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)


def masked_crc(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def field(number, payload):  # a length-delimited protobuf field
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def image_example(pixels):
    feature = field(1, field(1, pixels))                      # Feature.bytes_list.value
    entry = field(1, b"image") + field(2, feature)            # map<string, Feature> entry
    return field(1, field(1, entry))                          # Example.features.feature


def inputs(idx_gz, n, out):
    with gzip.open(idx_gz, "rb") as f:
        data = f.read()
    _, count, rows, cols = struct.unpack(">IIII", data[:16])
    size = rows * cols
    images = [data[16 + i * size:16 + (i + 1) * size] for i in range(min(n, count))]
    os.makedirs(os.path.join(out, "unlabeled"), exist_ok=True)
    write_npy(os.path.join(out, "u8.npy"), "|u1", (len(images), rows, cols), b"".join(images))
    scale = f32(1.0 / 255.0)
    floats = [[f32(p * scale) for p in image] for image in images]
    write_npy(os.path.join(out, "f32.npy"), "<f4", (len(images), size),
              b"".join(struct.pack("<%df" % size, *row) for row in floats))
    with open(os.path.join(out, "x.csv"), "w") as f:
        f.write(",".join("pixel%d" % i for i in range(size)) + "\n")
        for row in floats:
            f.write(",".join("%.9g" % v for v in row) + "\n")
    with open(os.path.join(out, "unlabeled", "test-00000-of-00001.tfrecord"), "wb") as f:
        for image in images:
            record = image_example(image)
            length = struct.pack("<Q", len(record))
            f.write(length + struct.pack("<I", masked_crc(length)) + record +
                    struct.pack("<I", masked_crc(record)))


def csv2npy(csv_path, npy_path):
    with open(csv_path) as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    write_npy(npy_path, "<f4", (len(rows), len(rows[0])),
              b"".join(struct.pack("<%df" % len(r), *r) for r in rows))


def probabilities(path):
    values, header = read_npy_floats(path)
    cols = int(header.split("(")[1].split(")")[0].split(",")[1])
    sums = [sum(values[i:i + cols]) for i in range(0, len(values), cols)]
    worst = max(abs(s - 1) for s in sums)
    print("rows sum to 1 within %.3g" % worst)
    return 0 if worst <= 1e-5 and min(values) >= 0 else 1


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "inputs":
        inputs(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif command == "csv2npy":
        csv2npy(sys.argv[2], sys.argv[3])
    elif command == "probabilities":
        sys.exit(probabilities(sys.argv[2]))
    else:
        sys.exit(__doc__)
