#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses: OUT/<harness>/<seed files>.

Small seeds are made here (stdlib only); real files are taken from the repo
(configs/) and, when present, from SHARED (../shared/testdata), read in place
and copied into OUT only (never into the repo).

Usage: make_seeds.py OUT [SHARED]
"""
import gzip
import os
import struct
import sys
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number, payload):  # length-delimited protobuf field
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def varint_field(number, value):
    return varint(number << 3) + varint(value)


# --- TF table (.index) ------------------------------------------------------
def block(entries):
    body = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
    restarts, offset = [], 0
    for k, v in entries:
        restarts.append(offset)
        offset += len(varint(0) + varint(len(k)) + varint(len(v))) + len(k) + len(v)
    restarts = restarts or [0]
    return body + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def table(entries):
    out = bytearray()

    def write(contents):
        offset = len(out)
        out.extend(contents + b"\0" + struct.pack("<I", masked_crc(contents + b"\0")))
        return varint(offset) + varint(len(contents))

    data_handle = write(block(entries)) if entries else None
    meta_handle = write(block([]))
    last = entries[-1][0] + b"\0" if entries else b""
    index_handle = write(block([(last, data_handle)] if data_handle else []))
    footer = (meta_handle + index_handle).ljust(40, b"\0")
    out.extend(footer + struct.pack("<II", 0x8B80FB57, 0xDB477524))
    return bytes(out)


def bundle(tensors):
    """index ‖ data ‖ fixed32 index size (bundle_fuzzer's input layout)."""
    data, entries = bytearray(), []
    header = varint_field(1, 1) + field(3, varint_field(1, 1))  # num_shards 1, version {producer 1}
    entries.append((b"", header))
    for name, values in tensors:
        raw = struct.pack("<%df" % len(values), *values)
        shape = field(2, varint_field(1, len(values)))  # dim { size }
        entry = (varint_field(1, 1) + field(2, shape) + varint_field(4, len(data)) +
                 varint_field(5, len(raw)) + varint(6 << 3 | 5) + struct.pack("<I", crc32c(raw)))
        entries.append((name, entry))
        data.extend(raw)
    index = table(sorted(entries))
    return index + bytes(data) + struct.pack("<I", len(index))


# --- TFRecord / tf.train.Example ---------------------------------------------
def tfrecord(records):
    out = bytearray()
    for record in records:
        length = struct.pack("<Q", len(record))
        out.extend(length + struct.pack("<I", masked_crc(length)) + record +
                   struct.pack("<I", masked_crc(record)))
    return bytes(out)


def example(image, label):
    image_feature = field(1, field(1, image))            # Feature.bytes_list.value
    label_feature = field(3, varint_field(1, label))     # Feature.int64_list.value (unpacked)
    feature_map = (field(1, field(1, b"image") + field(2, image_feature)) +
                   field(1, field(1, b"label") + field(2, label_feature)))
    return field(1, feature_map)                          # Example.features


# --- idx ----------------------------------------------------------------------
def idx_images(count, rows, cols):
    return struct.pack(">IIII", 0x803, count, rows, cols) + bytes(range(count * rows * cols % 256)) \
        .ljust(count * rows * cols, b"\x07")


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def frame(body):
    return struct.pack("<I", len(body)) + body


def generated_seeds():
    yield "table", "one_entry.index", table([(b"a", b"1")])
    yield "table", "three_entries.index", table([(b"", b"h"), (b"kernel", b"x" * 20), (b"z", b"")])
    yield "table", "empty.index", table([])
    yield "bundle", "two_tensors.bundle", bundle([(b"bias", [0.5, 1.5]), (b"kernel", [1.0] * 6)])
    yield "bundle", "header_only.bundle", bundle([])
    yield "state_file", "checkpoint", (
        b'model_checkpoint_path: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-2"\n'
        b'all_model_checkpoint_paths: "ckpt-3"\nall_model_checkpoint_timestamps: 1700000000.5\n'
        b'all_model_checkpoint_timestamps: 1700000100.25\nlast_preserved_timestamp: 1699999999.0\n')
    yield "state_file", "absolute", b'model_checkpoint_path: "/abs/dir/ckpt-1"\n'
    records = [example(bytes([i]) * 4, i % 3) for i in range(3)]
    yield "tfrecord", "examples.tfrecord", tfrecord(records)
    yield "tfrecord", "empty_record.tfrecord", tfrecord([b""])
    yield "idx", "images.idx", idx_images(2, 3, 3)
    yield "idx", "labels.idx", idx_labels([1, 2, 3, 9])
    yield "idx", "labels.idx.gz", gzip.compress(idx_labels([0, 5]), mtime=0)
    yield "idx", "images.idx.gz", gzip.compress(idx_images(1, 2, 2), mtime=0)
    register = field(1, varint_field(1, 0) + varint_field(2, 2) + field(3, b"token") +
                     field(4, b"host") + varint_field(5, 42))
    yield "frame", "register", frame(register)
    yield "frame", "heartbeat", frame(field(3, varint_field(1, 1)))
    yield "frame", "empty", frame(b"")
    yield "json_tensor", "instances", b'{"instances": [[1.0, 2.0], [3, 4e-3]]}'
    yield "json_tensor", "inputs", b'{"signature_name": "serving_default", "inputs": {"x": [1, 2]}}'
    yield "json_tensor", "named_instances", \
        b'{"instances": [{"x": [1.5], "ids": [7], "text": "a\\u00e9"}, ' \
        b'{"x": [2.5], "ids": [8], "text": {"b64": "aGk="}}]}'
    yield "keras_json", "sequential.json", (
        b'{"class_name": "Sequential", "config": {"name": "s", "layers": ['
        b'{"class_name": "InputLayer", "config": {"batch_shape": [null, 4]}},'
        b'{"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "relu"}},'
        b'{"class_name": "Dropout", "config": {"rate": 0.2}},'
        b'{"class_name": "Dense", "config": {"units": 2, "use_bias": false}}]}}')


def shared_seeds(shared):
    """(harness, seed name, path) for the real files under SHARED."""
    for root, _, files in sorted(os.walk(shared)):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, shared).replace("/", "_")
            if name.endswith(".index"):
                yield "table", rel, path
            elif name == "saved_model.pb":
                yield "saved_model", rel, path
            elif name.endswith((".keras", ".h5")):
                yield "keras", rel, path
            elif name.endswith(".json") and "keras" in root:
                yield "keras_json", rel, path


def damaged_heap_seeds(h5):
    """Regression seeds for the keras harness (issue 24 §5): a legacy .h5 whose
    global heap (the vlen string attributes) is damaged as a mutation probe
    found, each once crashing or hanging libhdf5: an object size with byte 5
    set to 0xe8, one with bit 0x01 of byte 3 flipped, a zeroed stretch."""
    at = h5.find(b"GCOL")
    if at < 0:
        return
    end = at + struct.unpack_from("<Q", h5, at + 8)[0]
    objects, p = [], at + 16
    while p + 16 <= end and struct.unpack_from("<H", h5, p)[0] != 0:
        objects.append(p)
        p += 16 + (struct.unpack_from("<Q", h5, p + 8)[0] + 7) // 8 * 8
    if len(objects) < 3:
        return
    for name, offset, change in (("size_e8", objects[1] + 13, lambda b: 0xE8),
                                 ("size_bit", objects[2] + 11, lambda b: b ^ 0x01)):
        damaged = bytearray(h5)
        damaged[offset] = change(damaged[offset])
        yield "damaged_heap_%s.h5" % name, bytes(damaged)
    # From the last 100 bytes of the third object on, into the objects after it.
    start = objects[2] + 16 + max(struct.unpack_from("<Q", h5, objects[2] + 8)[0] - 100, 0)
    stop = min(start + 1908, end)
    yield "damaged_heap_zeroed.h5", h5[:start] + bytes(stop - start) + h5[stop:]


def write(out, harness, name, contents):
    os.makedirs(os.path.join(out, harness), exist_ok=True)
    with open(os.path.join(out, harness, name), "wb") as f:
        f.write(contents)


def main():
    out = sys.argv[1]
    shared = sys.argv[2] if len(sys.argv) > 2 else ""
    for harness, name, contents in generated_seeds():
        write(out, harness, name, contents)
    for name in sorted(os.listdir(os.path.join(REPO, "configs"))):
        with open(os.path.join(REPO, "configs", name), "rb") as f:
            write(out, "job_config", name, f.read())
    if shared and os.path.isdir(shared):
        for harness, name, path in shared_seeds(shared):
            with open(path, "rb") as f:
                contents = f.read()
            if len(contents) > (1 << 20):
                continue  # big files slow every execution down; the small ones cover the format
            write(out, harness, name, contents)
            if name.endswith("k3_seq_mlp.legacy.h5"):
                for damaged_name, damaged in damaged_heap_seeds(contents):
                    write(out, "keras", damaged_name, damaged)
            if harness == "table":  # the bundle harness gets the index with its data file
                data_path = path[: -len(".index")] + ".data-00000-of-00001"
                if os.path.exists(data_path) and os.path.getsize(data_path) < (1 << 20):
                    with open(data_path, "rb") as f:
                        write(out, "bundle", name, contents + f.read() + struct.pack("<I", len(contents)))
            if name.endswith(".keras") and zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    if "config.json" in archive.namelist():
                        write(out, "keras_json", name + ".config.json", archive.read("config.json"))


if __name__ == "__main__":
    main()
