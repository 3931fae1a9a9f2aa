#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/: a few small valid inputs
(for the fuzzer to mutate from) and invalid ones (each a class of bad input the readers refuse).
Deterministic; the standard library only. The JPEG seeds of corpus/image/ are the exception: they
came from stb_image_write (see fuzz/README.md), as Python has no JPEG encoder of its own.

Inputs a fuzz run found crashing are added to the same folders by hand (named crash-*), so that
test_fuzz_corpus keeps them as regression tests; this script never removes a file.
"""
import gzip
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as out:
        out.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


# --- safetensors ---------------------------------------------------------------------------------

def safetensors(header, buffer, pad=True):
    text = header if isinstance(header, str) else json.dumps(header)
    if pad:
        text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + buffer


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def tensors(entries):
    """entries: (name, dtype, shape, bytes) in buffer order -> (header dict, buffer)."""
    header, buffer = {}, b""
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buffer), len(buffer) + len(data)]}
        buffer += data
    return header, buffer


def safetensors_corpus():
    header, buffer = tensors([("bias", "F32", [2], f32(0.5, -1)), ("weight", "F32", [2, 3], f32(*range(6)))])
    header["__metadata__"] = {"format": "pt", "epochs": "3"}
    put("safetensors", "valid-two-tensors", safetensors(header, buffer))
    header, buffer = tensors([
        ("f64", "F64", [2], struct.pack("<2d", 0.1, -1e300)), ("i64", "I64", [1], struct.pack("<q", -5)),
        ("f16", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x7E01)), ("bf16", "BF16", [1], struct.pack("<H", 0x3F80)),
        ("i32", "I32", [], struct.pack("<i", 7)), ("i16", "I16", [1], struct.pack("<h", -2)),
        ("i8", "I8", [1], b"\x80"), ("u8", "U8", [1], b"\xff"), ("bool", "BOOL", [2], b"\x01\x00"),
        ("empty", "F32", [0, 3], b"")])
    put("safetensors", "valid-every-dtype", safetensors(header, buffer))
    header, buffer = tensors([("w", "F32", [4], f32(1, float("nan"), float("inf"), -float("inf")))])
    put("safetensors", "valid-non-finite", safetensors(header, buffer))
    header, buffer = tensors([("features.0.bias", "F32", [6], f32(*[0.0] * 6))])
    header["__metadata__"] = {"format": "proact-checkpoint", "format_version": "1", "model": "lenet5",
                              "input_shape": "1,28,28", "num_classes": "10", "init_seed": "1",
                              "activation": "hybrid:smooth:20", "batch_norm": "folded", "range_guard": "on"}
    put("safetensors", "valid-lenet-metadata-missing-tensors", safetensors(header, buffer))
    header["__metadata__"]["input_shape"] = "3,100000,100000"
    put("safetensors", "bad-metadata-huge-input-shape", safetensors(header, buffer))
    put("safetensors", "bad-overlap", safetensors(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, f32(1, 2, 3)))
    put("safetensors", "bad-gap", safetensors(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, f32(1, 2, 3)))
    put("safetensors", "bad-duplicate-name", safetensors(
        '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
        ' "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', f32(1, 2)))
    put("safetensors", "bad-deep-nesting", safetensors('{"a": ' + "[" * 3000 + "]" * 3000 + "}", b""))
    put("safetensors", "bad-shape-overflow", safetensors(
        {"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 4]}}, f32(1)))
    put("safetensors", "bad-negative-size", safetensors(
        {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, f32(1)))
    put("safetensors", "bad-header-length", struct.pack("<Q", 1 << 62) + b"{}")
    put("safetensors", "bad-trailing-bytes", safetensors(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, f32(1, 2)))


# --- IDX -----------------------------------------------------------------------------------------

def idx_images(count, rows, cols, pixels=None):
    if pixels is None:
        pixels = bytes((i * 37 + 11) % 256 for i in range(count * rows * cols))
    return struct.pack(">IIII", 0x803, count, rows, cols) + pixels


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_corpus():
    for target in ("idx", "idx_gzip"):
        put(target, "valid-images-3x4x4", idx_images(3, 4, 4))
        put(target, "valid-labels-5", idx_labels([0, 3, 9, 1, 2]))
        put(target, "bad-zero-count", idx_images(0, 28, 28, b""))
        put(target, "bad-claims-4g-images", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF) + b"\0" * 16)
        put(target, "bad-truncated", idx_images(3, 4, 4)[:40])
        put(target, "bad-label-out-of-range", idx_labels([0, 10, 255]))
        put(target, "bad-magic", struct.pack(">IIII", 0xD03, 1, 2, 2) + b"\0" * 16)
    put("idx", "valid-images-gzip", gz(idx_images(2, 3, 5)))
    put("idx", "valid-labels-gzip", gz(idx_labels([4, 4, 7])))
    put("idx", "bad-gzip-bomb-claim", gz(struct.pack(">IIII", 0x803, 1000, 1000, 1000) + b"\0" * 4000))
    put("idx", "bad-gzip-truncated", gz(idx_images(4, 6, 6))[:30])


# --- CIFAR ---------------------------------------------------------------------------------------

def cifar_corpus():
    pixels = bytes((i * 13) % 256 for i in range(3072))
    put("cifar", "valid-cifar10-one-record", b"\x07" + pixels)
    put("cifar", "valid-cifar100-one-record", b"\x13\x63" + pixels)
    put("cifar", "valid-cifar10-gzip", gz(b"\x02" + pixels))
    put("cifar", "bad-truncated-record", b"\x01" + pixels[:1000])
    put("cifar", "bad-label", b"\xc8" + pixels)
    put("cifar", "bad-empty", b"")


# --- images --------------------------------------------------------------------------------------

def png(width, height, rows, colour_type=2, depth=8):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def bmp(width, height):
    row = bytes((x * 40 + y * 7) % 256 for x in range(width * 3) for y in [0])
    padded = row + b"\0" * ((4 - len(row) % 4) % 4)
    pixels = padded * height
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def image_corpus():
    rgb = [bytes((x * 50 + y * 20 + c * 70) % 256 for x in range(4) for c in range(3)) for y in range(3)]
    put("image", "valid-rgb-4x3.png", png(4, 3, rgb))
    put("image", "valid-grey-alpha-2x2.png", png(2, 2, [b"\x10\xff\x80\x00", b"\xff\x80\x00\x10"], colour_type=4))
    put("image", "valid-rgb-5x2.bmp", bmp(5, 2))
    put("image", "bad-png-claims-100000x100000", png(100000, 100000, [b"\0\0\0"]))
    put("image", "bad-png-truncated", png(4, 3, rgb)[:45])
    put("image", "bad-not-an-image", b"hello, not an image\n")


# --- campaign JSON -------------------------------------------------------------------------------

def campaign(shard="0/1", trial_ids=(0, 1, 2), trials=3):
    n = len(trial_ids)
    return {
        "proact_campaign": 3, "label": "lenet5 Q15.16", "model": "lenet5", "dataset": "fashion-mnist",
        "format": "Q15.16", "fault_model": "ber", "bit_mask": "0,1,2,30,31",
        "patterns": ["*weight"], "targets": ["features.0.weight", "classifier.4.weight"], "target_values": 990,
        "seed": 7, "purpose": "evaluation", "batch_norm": "fold", "trials": trials, "ci_margin": 0.0,
        "min_trials": 10, "shard": shard, "samples": 100, "images_hash": "0x0123456789abcdef",
        "fault_free_correct": 90, "fault_free_accuracy": 90.0, "fault_free_no_prediction": 0, "rate_name": "ber",
        "points": [{"rate": rate, "stopped_early": False, "trial_ids": list(trial_ids),
                    "correct": [90 - i for i in range(n)], "no_prediction": [i % 2 for i in range(n)],
                    "faults": [i * 3 for i in range(n)]} for rate in (1e-6, 1e-5)],
    }


def campaign_v4(shard="0/1", trial_ids=(0, 1, 2), trials=3):
    """Version 4: the version-3 layout with per-trial SDC counts (images whose top-1 differs from the
    fault-free run's)."""
    result = campaign(shard, trial_ids, trials)
    result["proact_campaign"] = 4
    for point in result["points"]:
        point["sdc"] = [2 * i + 1 for i in range(len(trial_ids))]
    return result


def campaign_corpus():
    put("campaign_json", "valid-whole", json.dumps(campaign(), indent=2))
    put("campaign_json", "valid-two-shards", json.dumps(campaign("0/2", (0, 2), 4)) + "\0"
        + json.dumps(campaign("1/2", (1, 3), 4)))
    exact = campaign()
    exact["fault_model"] = "exact"
    for point, k in zip(exact["points"], (1, 4)):
        point["rate"] = k
    put("campaign_json", "valid-exact-k", json.dumps(exact))
    for name, text, mask in [("bf16", "bf16", "0,7,15"), ("fp16", "fp16", "10,15"), ("int8", "int8", "0,7")]:
        other = campaign()
        other["format"], other["bit_mask"], other["label"] = text, mask, "lenet5 " + text
        put("campaign_json", "valid-" + name, json.dumps(other))
    wide = campaign()
    wide["format"], wide["bit_mask"] = "int8", "0,8"
    put("campaign_json", "bad-int8-bit-8", json.dumps(wide))
    unknown = campaign()
    unknown["format"] = "int4"
    put("campaign_json", "bad-format-int4", json.dumps(unknown))
    huge = campaign()
    huge["trials"] = 5_000_000_000
    put("campaign_json", "bad-trials-5e9", json.dumps(huge))
    negative = campaign()
    negative["points"][0]["correct"][1] = -4
    put("campaign_json", "bad-negative-count", json.dumps(negative))
    floats = campaign()
    floats["samples"] = 1e300
    put("campaign_json", "bad-float-count", json.dumps(floats))
    put("campaign_json", "bad-deep-nesting", '{"points": ' + "[" * 5000 + "]" * 5000 + "}")
    put("campaign_json", "bad-duplicate-key", '{"trials": 3, "trials": 4}')
    put("campaign_json", "bad-not-json", "{proact_campaign: 3")
    put("campaign_json", "valid-v4-whole", json.dumps(campaign_v4(), indent=2))
    put("campaign_json", "valid-v4-two-shards", json.dumps(campaign_v4("0/2", (0, 2), 4)) + "\0"
        + json.dumps(campaign_v4("1/2", (1, 3), 4)))
    put("campaign_json", "bad-v3-and-v4-shards", json.dumps(campaign("0/2", (0, 2), 4)) + "\0"
        + json.dumps(campaign_v4("1/2", (1, 3), 4)))
    missing = campaign_v4()
    del missing["points"][1]["sdc"]
    put("campaign_json", "bad-v4-sdc-missing", json.dumps(missing))
    too_many = campaign_v4()
    too_many["points"][0]["sdc"][1] = 100  # 100 SDC + 1 without prediction > 100 samples
    put("campaign_json", "bad-v4-sdc-above-samples", json.dumps(too_many))


# --- shard manifests (proact reproduce --shard) ---------------------------------------------------

def shard_manifest(shard="0/2", methods=("unprotected", "proact"), times=False):
    return {
        "proact_reproduce_shard": 1,
        "shard": shard,
        "settings": {"model": "lenet5", "dataset": "fashion-mnist", "format": "Q15.16", "seed": 7, "samples": 100,
                     "bers": [1e-5, 1e-4], "methods": list(methods), "trials": 4, "replicates": 1,
                     "batch_norm": "fold", "tolerance_reference": "original", "site": "weights",
                     "ftclipact_search_bers": "evaluation BERs", "times": times},
        "replicates": [{"seed": 7, "trained_checksum": "0x2cbfcd387986de94", "trained_accuracy": 88.7,
                        "methods": [{"method": name, "hardened_checksum": "0x00000000000000%02x" % m,
                                     "thresholds": 4 * m, "guards": 0, "seconds": 1.5 if times else 0.0,
                                     "settings": name + " settings", "clean_accuracy": 88.5}
                                    for m, name in enumerate(methods)]}],
    }


def shard_manifest_corpus():
    put("shard_manifest", "valid-shard", json.dumps(shard_manifest(), indent=1))
    put("shard_manifest", "valid-times", json.dumps(shard_manifest("1/3", ("ranger",), True)))
    wrong_method = shard_manifest()
    wrong_method["replicates"][0]["methods"][1]["method"] = "ranger"
    put("shard_manifest", "bad-method-order", json.dumps(wrong_method))
    short = shard_manifest()
    short["settings"]["replicates"] = 2
    put("shard_manifest", "bad-replicate-count", json.dumps(short))
    checksum = shard_manifest()
    checksum["replicates"][0]["trained_checksum"] = "0xZZ"
    put("shard_manifest", "bad-checksum", json.dumps(checksum))
    accuracy = shard_manifest()
    accuracy["replicates"][0]["methods"][0]["clean_accuracy"] = 1e300
    put("shard_manifest", "bad-accuracy", json.dumps(accuracy))
    index = shard_manifest("2/2")
    put("shard_manifest", "bad-shard-index", json.dumps(index))
    rates = shard_manifest()
    rates["settings"]["bers"] = [1e-5, "x"]
    put("shard_manifest", "bad-rate", json.dumps(rates))
    put("shard_manifest", "bad-campaign-json", json.dumps({"proact_campaign": 4}))
    put("shard_manifest", "bad-method-path", json.dumps(shard_manifest(methods=("../../escape",))))
    put("shard_manifest", "bad-no-methods", json.dumps(shard_manifest(methods=())))
    put("shard_manifest", "bad-method-twice", json.dumps(shard_manifest(methods=("proact", "proact"))))


# --- command-line texts --------------------------------------------------------------------------

def text_corpora():
    for name, text in [("q15.16", "Q15.16"), ("float32", "float32"), ("q7.8", "q7.8"), ("q3.4", "Q3.4"),
                       ("bf16", "bf16"), ("bfloat16", "BFloat16"), ("fp16", "fp16"), ("half", "half"),
                       ("int8", "int8"), ("bad-width", "Q99.99"), ("bad-negative", "Q-1.8"), ("bad-word", "x"),
                       ("bad-int9", "int9")]:
        put("storage_format", name, text)
    for name, text in [("default", "1e-7,3e-7,1e-6,3e-6,1e-5,3e-5,1e-4"), ("spaces", " 1e-6 , 0 ,1"),
                       ("bad-above-one", "2"), ("bad-nan", "nan"), ("bad-empty-item", "1e-6,,1e-5"),
                       ("bad-hex", "0x1p-20")]:
        put("ber_list", name, text)


if __name__ == "__main__":
    safetensors_corpus()
    idx_corpus()
    cifar_corpus()
    image_corpus()
    campaign_corpus()
    shard_manifest_corpus()
    text_corpora()
