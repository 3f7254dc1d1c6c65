#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses: OUT/<harness>/<seed files>.

Small seeds are made here (stdlib only); real files are taken from the repo
(configs/) and, when present, from SHARED (../shared/testdata), read in place
and copied into OUT only (never into the repo).

Usage: make_seeds.py OUT [SHARED]
"""
import gzip
import io
import os
import struct
import sys
import zipfile
import zlib

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


# --- images, typed arrays -----------------------------------------------------
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, bit_depth, color_type, rows, extra=b"", interlace=0):
    """`rows`: the raw scanlines (without filter bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def png_seeds():
    yield "gray_2x2.png", png(2, 2, 8, 0, [b"\x00\x80", b"\xff\x10"])
    yield "rgba_3x2.png", png(3, 2, 8, 6, [bytes(range(12)), bytes(range(100, 112))])
    yield "palette_trns_2x2.png", png(2, 2, 4, 3, [b"\x01", b"\x10"],
                                      png_chunk(b"PLTE", b"\x00\x00\x00\xff\x80\x00") +
                                      png_chunk(b"tRNS", b"\x00\xff"))
    yield "gray16_2x1.png", png(2, 1, 16, 0, [b"\x12\x34\xab\xcd"])
    yield "gray_alpha_1x1.png", png(1, 1, 8, 4, [b"\x40\x80"])
    # Adam7-interlaced 3x3 gray: the rows of passes 1, 4, 5, 6 (two) and 7 (2 and 3 are empty).
    yield "interlaced_3x3.png", png(3, 3, 8, 0, [b"\x01", b"\x03", b"\x02\x04", b"\x05", b"\x06",
                                                 b"\x07\x08\x09"], interlace=1)


# Baseline and progressive JPEGs encoded with libjpeg-turbo (quality 75,
# optimized Huffman tables): 4x4 gray, 8x8 RGB 4:2:0, 2x2 RGB progressive 4:4:4.
JPEGS = {
    "gray_4x4": bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b"
        "0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ff"
        "c0000b080004000401011100ffc40014000100000000000000000000000000000006ffc4001e10000300010403"
        "000000000000000000000102031104050612002141ffda0008010100003f0027ca6a9b3723d4ed50d3ccc34892"
        "49b2b3c090d3573d8459149cb9f7d738c0f9e7ffd9"
    ),
    "rgb_8x8_420": bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b"
        "0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ff"
        "db0043010909090c0b0c180d0d1832211c21323232323232323232323232323232323232323232323232323232"
        "3232323232323232323232323232323232323232323232ffc00011080008000803012200021101031101ffc400"
        "1500010100000000000000000000000000000002ffc4001d100002020203010000000000000000000001030211"
        "000412214251ffc4001501010100000000000000000000000000000104ffc4001e110002010305000000000000"
        "00000000000102030004111231418191ffda000c03010002110311003f0087a94a4a74930d781901cc16478cba"
        "008be855480f82321e4d398c64b3ddc902a04e467b342ca11751504927719f2bffd9"
    ),
    "rgb_2x2_progressive": bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b"
        "0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ff"
        "db0043010909090c0b0c180d0d1832211c21323232323232323232323232323232323232323232323232323232"
        "3232323232323232323232323232323232323232323232ffc20011080002000203011100021101031101ffc400"
        "14000100000000000000000000000000000004ffc4001501010100000000000000000000000000000304ffda00"
        "0c030100021003100000012527ffc400161001010100000000000000000000000000010212ffda000801010001"
        "050295cfffc400191101000203000000000000000000000000010002030451ffda0008010301013f01d8033583"
        "acffc40017110003010000000000000000000000000000010232ffda0008010201013f018ca3ffc40017100003"
        "010000000000000000000000000000012141ffda0008010100063f02570fffc400161001010100000000000000"
        "000000000000010041ffda0008010100013f21318801b7ffda000c030100020003000000103fffc40017110100"
        "0300000000000000000000000000010011b1ffda0008010301013f1025283467ffc40016110101010000000000"
        "0000000000000000010051ffda0008010201013f104a8e17ffc400161001010100000000000000000000000000"
        "010011ffda0008010100013f100e10008032ffd9"
    ),
}


# Regression seed of the image harness: 353 bytes of a truncated progressive
# JPEG declaring 2815 x 65360 RGB, once a 10 s timeout (the decoder allocates
# the 552 MB image and libjpeg its coefficient buffer before the data runs
# out; the harness now decodes with max_pixels 2^22, refused from the header).
HUGE_TRUNCATED_JPEG = bytes.fromhex(
    "ffd8ffc20011080affff5003011100021101031101007a02ffda00080102017433ffd8ffe000104a4649460001"
    "0100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f14131d1a1f1e1d"
    "1a1c1c20242e2720222c231c1c2837292c30313434341f273932343c33383d2e32ffdb0043010109090c0b0c18"
    "0d0d1832211c213232323232323232323232323232320102030004113232323232323232323228323232323232"
    "3232323232323232323232323232323232323232ffc00011080008000803012200021101031101ffc400150001"
    "010000000000000000000000000000000000022ec4001d100002020203010000000000000000000000000103ff"
    "00c0600000c40015010101000000000000000000000000007e00000091ffda000c03010002110311cc42428cba"
    "008be855480f82321e4d398c64b3ddc902a04e467b342ca11751504927719fc42b30ffffd9d9"
)


def npy(descr, shape, data, version=1):
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else str(tuple(shape))
    header = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text))
    size_format = "<H" if version == 1 else "<I"
    prefix = 10 if version == 1 else 12
    header = header.ljust((prefix + len(header) + 1 + 63) // 64 * 64 - prefix - 1) + "\n"
    return (b"\x93NUMPY" + bytes([version, 0]) + struct.pack(size_format, len(header)) +
            header.encode("latin1") + data)


def npz(members, compression):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, contents in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, contents)
    return out.getvalue()


def npz_declaring(archive, size):
    """`archive` (one member) with the member's uncompressed size set to `size`
    in its local and central headers: a regression seed of the arrays harness
    (a 200-byte archive once made ReadNpzArray allocate the declared 3 GiB)."""
    out = bytearray(archive)
    struct.pack_into("<I", out, 22, size)
    struct.pack_into("<I", out, out.find(b"PK\x01\x02") + 24, size)
    return bytes(out)


def array_seeds():
    f4 = npy("<f4", (2, 3), struct.pack("<6f", 0.5, -1, 2, 3.25, 1e-3, 7))
    yield "float32_2x3.npy", f4
    yield "uint8_2x2x2_v2.npy", npy("|u1", (2, 2, 2), bytes(range(8)), version=2)
    yield "int64_3.npy", npy("<i8", (3,), struct.pack("<3q", -1, 0, 1 << 40), version=3)
    yield "bool_2x1.npy", npy("|b1", (2, 1), b"\x01\x00")
    yield "float64_1x2.npy", npy("<f8", (1, 2), struct.pack("<2d", 0.25, -8))
    yield "int32_int8.npz", npz([("x.npy", npy("<i4", (2,), struct.pack("<2i", 5, -6))),
                                 ("y.npy", npy("|i1", (2,), b"\x01\xff"))], zipfile.ZIP_STORED)
    yield "float32_deflated.npz", npz([("x.npy", f4)], zipfile.ZIP_DEFLATED)
    yield "declares_3gib.npz", npz_declaring(npz([("x.npy", f4)], zipfile.ZIP_DEFLATED), 3 << 30)
    yield "header.csv", b"a,b,label\n0.5, 1e3,2\n-1,2.25,0\n"
    yield "numbers_crlf.csv", b"1,2\r\n\r\n3,4\r\n"
    yield "numeric_header.csv", b"1,2,3\n4.5,5,-6\n"


# --- tf.train.Example features ------------------------------------------------
def feature_entry(key, feature):
    return field(1, field(1, key) + field(2, feature))


def bytes_feature(value):
    return field(1, field(1, value))


def float_feature(values):
    return field(2, field(1, struct.pack("<%df" % len(values), *values)))


def int64_feature(values):
    return field(3, field(1, b"".join(varint(v & (1 << 64) - 1) for v in values)))


def example_decoder_seeds():
    """One Example per spec of example_decoder_fuzzer.cc."""
    yield "default.example", example(bytes(range(0, 160, 10)), 3)
    yield "mixed.example", field(1, feature_entry(b"f", float_feature([0.5, -2, 3e3])) +
                                 feature_entry(b"i", int64_feature([7, -1])) +
                                 feature_entry(b"b", bytes_feature(struct.pack("<2f", 1, 2))) +
                                 feature_entry(b"u", bytes_feature(b"\x80")) +
                                 feature_entry(b"y", float_feature([0, 1])))
    png_2x2 = png(2, 2, 8, 0, [b"\x00\x80", b"\xff\x10"])
    yield "images.example", field(1, feature_entry(b"png", bytes_feature(png_2x2)) +
                                  feature_entry(b"jpeg", bytes_feature(JPEGS["rgb_2x2_progressive"])) +
                                  feature_entry(b"label", int64_feature([1])))


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
    yield "tfrecord", "examples.tfrecord.gz", gzip.compress(tfrecord(records), mtime=0)
    yield "tfrecord", "examples.tfrecord.zlib", zlib.compress(tfrecord(records))
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
    # Nesting past the readers' 64-level bound (json_nesting.h), in a Keras 3 kwargs value.
    deep = b"[" * 1000 + b"]" * 1000
    yield "keras_json", "deep_kwargs.json", (
        b'{"class_name": "Functional", "config": {"layers": ['
        b'{"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 3]}},'
        b'{"class_name": "Dense", "config": {"name": "d", "units": 2}, "inbound_nodes": [{"args": ['
        b'{"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}}],'
        b' "kwargs": {"training": ' + deep + b'}}]}]}}')
    for name, contents in png_seeds():
        yield "image", name, contents
    for name, contents in JPEGS.items():
        yield "image", name + ".jpg", contents
    yield "image", "huge_truncated_progressive.jpg", HUGE_TRUNCATED_JPEG
    for name, contents in array_seeds():
        yield "arrays", name, contents
    for name, contents in example_decoder_seeds():
        yield "example_decoder", name, contents


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
