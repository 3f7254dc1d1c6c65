#!/usr/bin/python3
"""Writes a small TFRecord set of tf.train.Example in a schema of one's own, without
TensorFlow (own_tfrecords_test.sh trains on it).

Usage: own_tfrecords.py OUTDIR PREFIX FILES PER_FILE SEED [--gzip]
  OUTDIR/PREFIX-I.tfrecord (.tfrecord.gz with --gzip: one gzip stream per file, as
  TFRecordOptions(compression_type="GZIP") writes), FILES files of PER_FILE examples:
  x    float_list of 4 values: class c has x[c] = 2 plus noise, the others noise
  aux  float_list of 2 noise values
  cls  int64_list, the class id in [0, 3)
  onehot float_list of 3 values, the one-hot vector of cls
"""
import gzip
import random
import struct
import sys

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


def float_feature(values):  # Feature.float_list (2) { value (1), packed }
    return field(2, field(1, struct.pack("<%df" % len(values), *values)))


def int64_feature(values):  # Feature.int64_list (3) { value (1), packed }
    return field(3, field(1, b"".join(varint(v & 0xFFFFFFFFFFFFFFFF) for v in values)))


def example(features):  # Example.features (1) { feature (1): map<string, Feature> }
    entries = b"".join(field(1, field(1, key.encode()) + field(2, value))
                       for key, value in sorted(features.items()))
    return field(1, entries)


def record(data):
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def main():
    outdir, prefix, files, per_file, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    compress = "--gzip" in sys.argv[6:]
    rng = random.Random(seed)
    for i in range(files):
        chunks = []
        for _ in range(per_file):
            cls = rng.randrange(3)
            x = [rng.uniform(-0.5, 0.5) + (2.0 if j == cls else 0.0) for j in range(4)]
            chunks.append(record(example({
                "x": float_feature(x),
                "aux": float_feature([rng.uniform(-1, 1) for _ in range(2)]),
                "cls": int64_feature([cls]),
                "onehot": float_feature([1.0 if j == cls else 0.0 for j in range(3)]),
            })))
        data = b"".join(chunks)
        path = "%s/%s-%d.tfrecord" % (outdir, prefix, i)
        if compress:
            with gzip.open(path + ".gz", "wb") as f:
                f.write(data)
        else:
            with open(path, "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
