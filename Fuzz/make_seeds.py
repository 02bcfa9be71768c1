#!/usr/bin/env python3
"""The fuzz targets' seed corpora: a few tiny, valid files per reader (a few KB each), in the
variants the readers handle, so fuzzing starts deep inside each format.

    python3 Fuzz/make_seeds.py [DIR]     (default Fuzz/seeds; needs numpy, Pillow, h5py, torch and safetensors)
"""
import gzip
import io
import json
import os
import shutil
import struct
import sys
import zipfile

import h5py
import numpy as np
from PIL import Image

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
shutil.rmtree(out, ignore_errors=True)
y, x = np.mgrid[0:6, 0:8]
rgb = Image.fromarray(np.stack([x * 30, y * 40, (x + y) * 15], axis=-1).astype(np.uint8), "RGB")


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def image(target, name, picture, fmt, **options):
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    put(target, name, buffer.getvalue())


# JPEG: baseline, progressive, grayscale, CMYK, EXIF orientation, restart markers, 4:4:4.
image("jpeg", "baseline.jpg", rgb, "JPEG", quality=80)
image("jpeg", "progressive.jpg", rgb, "JPEG", quality=80, progressive=True)
image("jpeg", "gray.jpg", rgb.convert("L"), "JPEG")
image("jpeg", "cmyk.jpg", rgb.convert("CMYK"), "JPEG")
exif = Image.Exif()
exif[0x0112] = 6
image("jpeg", "rotated.jpg", rgb, "JPEG", exif=exif)
image("jpeg", "restarts-444.jpg", rgb.resize((24, 16)), "JPEG", subsampling=0, restart_marker_blocks=1)

# PNG: 8-bit RGB, RGBA, grayscale (8 and 16 bits), grayscale with alpha, palette with transparency.
image("png", "rgb.png", rgb, "PNG")
image("png", "rgba.png", rgb.convert("RGBA"), "PNG")
image("png", "gray.png", rgb.convert("L"), "PNG")
image("png", "gray16.png", Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257), "PNG")
image("png", "gray-alpha.png", rgb.convert("LA"), "PNG")
image("png", "palette.png", rgb.convert("P"), "PNG", transparency=0)

# BMP: 24-bit, 8-bit palette, 1-bit, 32-bit, and hand-made top-down and bit-field variants.
image("bmp", "rgb24.bmp", rgb, "BMP")
image("bmp", "palette8.bmp", rgb.convert("P"), "BMP")
image("bmp", "mono.bmp", rgb.convert("1"), "BMP")
image("bmp", "rgba32.bmp", rgb.convert("RGBA"), "BMP")


def bmp32(height, compression, masks=b""):
    """A 2-pixel-wide 32-bit BMP: height < 0 stores rows top-down; compression 3 adds bit masks."""
    pixels = bytes(range(8 * abs(height)))
    header = 40 + len(masks)
    info = struct.pack("<IiiHHIIiiII", 40, 2, height, 1, 32, compression, len(pixels), 2835, 2835, 0, 0)
    file = struct.pack("<2sIHHI", b"BM", 14 + header + len(pixels), 0, 0, 14 + header)
    return file + info + masks + pixels


put("bmp", "top-down.bmp", bmp32(-2, 0))
put("bmp", "bitfields.bmp", bmp32(2, 3, struct.pack("<III", 0xFF0000, 0x00FF00, 0x0000FF)))

# GIF: one frame, interlaced, transparent, and two frames (the first is used).
image("gif", "frame.gif", rgb.convert("P"), "GIF")
image("gif", "interlaced.gif", rgb.convert("P"), "GIF", interlace=True)
image("gif", "transparent.gif", rgb.convert("P"), "GIF", transparency=0)
image("gif", "two-frames.gif", rgb.convert("P"), "GIF", save_all=True,
      append_images=[rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("P")])

# WebP: lossy, lossless, and with alpha.
image("webp", "lossy.webp", rgb, "WEBP", quality=80)
image("webp", "lossless.webp", rgb, "WEBP", lossless=True)
image("webp", "alpha.webp", rgb.convert("RGBA"), "WEBP", lossless=True)


def npy(array, fortran=False):
    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(array) if fortran else array)
    return buffer.getvalue()


# .npy: the dtypes data sets use, float32 for embed, a scalar, an empty array, version 2 headers.
put("npy", "images-u1.npy", npy(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)))
put("npy", "labels-i8.npy", npy(np.array([0, 2, 1], dtype=np.int64)))
put("npy", "labels-i2.npy", npy(np.array([-1, 7], dtype=np.int16)))
put("npy", "features-f4.npy", npy(np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)))
put("npy", "fortran-f4.npy", npy(np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3), fortran=True))
put("npy", "big-endian-f4.npy", npy(np.ones(3, dtype=">f4")))
put("npy", "scalar-f8.npy", npy(np.float64(1.5)))
put("npy", "empty-f4.npy", npy(np.zeros((0, 3), dtype=np.float32)))
buffer = io.BytesIO()
np.lib.format.write_array(buffer, np.ones((2, 2), dtype=np.float32), version=(2, 0))
put("npy", "version2-f4.npy", buffer.getvalue())


def npz(compressed=False, **arrays):
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


# .npz: gray and colour images with labels, stored and deflated, and one without labels.
gray = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
put("npz", "gray.npz", npz(x=gray, y=np.array([0, 1, 2], dtype=np.int64)))
put("npz", "colour-compressed.npz", npz(True, x=np.zeros((2, 4, 4, 3), dtype=np.uint8), y=np.array([1, 0], dtype=np.uint8)))
put("npz", "extra-member.npz", npz(x=gray[:1], y=np.array([0]), names=np.array([3.5])))
put("npz", "no-labels.npz", npz(x=gray))

# IDX: images (N, H, W) plain and gzipped, a labels file, and a file cut short.
idx_images = bytes([0, 0, 8, 3]) + struct.pack(">III", 3, 4, 4) + bytes(range(48))
put("idx", "images", idx_images)
put("idx", "images.gz", gzip.compress(idx_images, mtime=0))
put("idx", "labels.gz", gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes([0, 1, 2]), mtime=0))
put("idx", "truncated", idx_images[:30])

# CSV layout: labels.csv beside images/a.png and images/b.png (made by the fuzz target).
put("csv", "single.csv", b"file,label\na.png,cat\nb.png,dog\n")
put("csv", "multi.csv", b"image,tags\na.png,cat;dog\nb.png,dog|bird\n")
put("csv", "no-extension.csv", b"id,label\na,cat\nb,cat\n")
put("csv", "test-set.csv", b"file\na.png\nb.png\n")
put("csv", "quoted.csv", b'file,label\r\n"a.png","big, cat"\r\n"b.png",""\r\n')

# Keras weight files for the fuzz target's tiny model (see TinyModel in Targets.swift).
zeros = lambda *shape: np.zeros(shape, np.float32)
tiny = [
    ("conv", "Conv2D", [("kernel", zeros(3, 3, 3, 2)), ("bias", zeros(2))]),
    ("bn", "BatchNormalization", [(n, zeros(2)) for n in ("gamma", "beta", "moving_mean", "moving_variance")]),
    ("sepconv", "SeparableConv2D", [("depthwise_kernel", zeros(3, 3, 2, 1)), ("pointwise_kernel", zeros(1, 1, 2, 2))]),
    ("sepconv_bn", "BatchNormalization", [(n, zeros(2)) for n in ("beta", "moving_mean", "moving_variance")]),
    ("dense", "Dense", [("kernel", zeros(2, 2)), ("bias", zeros(2))]),
]


def names(values, variable):
    return values if variable else np.array([v.encode() for v in values], dtype=f"S{max(map(len, values))}")


def legacy(group, layers, variable=True, split=False, compress=False):
    """Keras' legacy layout: layer_names (split in two like Keras' long lists), each layer's weight_names."""
    layer_names = [name for name, _, _ in layers]
    if split:
        group.attrs["layer_names0"] = names(layer_names[:2], variable)
        group.attrs["layer_names1"] = names(layer_names[2:], variable)
    else:
        group.attrs["layer_names"] = names(layer_names, variable)
    group.attrs["backend"] = "tensorflow"
    for name, _, weights in layers:
        layer = group.create_group(name)
        weight_names = [f"{name}/{w}:0" for w, _ in weights]
        layer.attrs["weight_names"] = names(weight_names, variable)
        for path, (_, value) in zip(weight_names, weights):
            layer.create_dataset(path, data=value, **({"compression": "gzip"} if compress else {}))


def h5(target, name, fill, libver="earliest"):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=libver) as f:
        fill(f)
    put(target, name, buffer.getvalue())


h5("weights", "legacy.h5", lambda f: legacy(f, tiny))
h5("weights", "legacy-fixed-strings.h5", lambda f: legacy(f, tiny, variable=False), libver="latest")
h5("weights", "split-names.h5", lambda f: legacy(f, tiny, split=True), libver="latest")
h5("weights", "full-model.h5", lambda f: legacy(f.create_group("model_weights"), tiny, compress=True), libver="latest")


def keras3(f):
    """Keras 3's .weights.h5: layers/<snake-cased class, numbered per class>/vars/<index>."""
    seen = {}
    for _, cls, weights in tiny:
        key = "".join("_" + c.lower() if c.isupper() and i and not cls[i - 1].isupper() else c.lower()
                      for i, c in enumerate(cls)).replace("conv2_d", "conv2d")
        count = seen.get(key, 0)
        seen[key] = count + 1
        vars_ = f.create_group(f"layers/{key if count == 0 else f'{key}_{count}'}/vars")
        for i, (_, value) in enumerate(weights):
            vars_.create_dataset(str(i), data=value)


h5("weights", "keras3.weights.h5", keras3, libver="latest")

# finetune checkpoints: small_cnn at 8x8 with a two-class head, weights zero and deflated.
small_cnn = [
    ("block1_conv", "", [("kernel", zeros(3, 3, 3, 32))]),
    ("block1_bn", "", [(n, zeros(32)) for n in ("gamma", "beta", "moving_mean", "moving_variance")]),
    ("block2_conv", "", [("kernel", zeros(3, 3, 32, 64))]),
    ("block2_bn", "", [(n, zeros(64)) for n in ("gamma", "beta", "moving_mean", "moving_variance")]),
]


def checkpoint(hidden=None, multi=False):
    head = ([("head_hidden", "", [("kernel", zeros(64, hidden)), ("bias", zeros(hidden))])] if hidden else []) + \
           [("head_predictions", "", [("kernel", zeros(hidden or 64, 2)), ("bias", zeros(2))])]
    info = {"base": "small_cnn", "classes": ["cat", "dog"], "imageSize": 8, "preprocessing": "tf", "dropout": 0.25,
            "hidden": hidden, "pooling": "max" if multi else "avg", "multiLabel": multi, "crop": multi, "settings": {"epochs": "1"}}

    def fill(f):
        f.attrs["finetune_checkpoint"] = json.dumps(info, sort_keys=True)
        f.attrs["finetune_classes"] = json.dumps(info["classes"])
        legacy(f.create_group("model_weights"), small_cnn + head, compress=True)
    return fill


h5("checkpoint", "checkpoint.h5", checkpoint(), libver="latest")
h5("checkpoint", "hidden-multilabel.h5", checkpoint(hidden=4, multi=True), libver="latest")

for target in sorted(os.listdir(out)):
    sizes = [os.path.getsize(os.path.join(out, target, n)) for n in os.listdir(os.path.join(out, target))]
    print(f"{target}: {len(sizes)} seeds, largest {max(sizes)} bytes")

# PyTorch checkpoints, their pickles and safetensors files (needs torch and safetensors). Every storage
# holds 64 bytes, so the pickle target can give any pickled state dict the storages it refers to.
import collections  # noqa: E402

import safetensors.torch  # noqa: E402
import torch  # noqa: E402

torch.manual_seed(0)
square = torch.randn(4, 4)
state = collections.OrderedDict([
    ("conv.weight", torch.randn(2, 2, 2, 2)), ("half", torch.randn(32).half()), ("brain", torch.randn(4, 8).bfloat16()),
    ("double", torch.randn(8).double()), ("bn.num_batches_tracked", torch.arange(8)),
    ("transposed", square.t()), ("sliced", square[1:3, 1:]), ("scalar", torch.randn(16)[3]),
])


def torch_save(value, protocol=2):
    buffer = io.BytesIO()
    torch.save(value, buffer, pickle_protocol=protocol)
    return buffer.getvalue()


def data_pkl(checkpoint):
    with zipfile.ZipFile(io.BytesIO(checkpoint)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


def rezip(checkpoint, method=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(checkpoint)) as source, zipfile.ZipFile(buffer, "w", method) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return buffer.getvalue()


checkpoints = {
    "state-dict": torch_save(state),
    "protocol4": torch_save(state, protocol=4),
    "nested": torch_save({"epoch": 1, "state_dict": state, "best": [0.5, None, True, (1, "a")]}),
    "parameters": torch_save(collections.OrderedDict(w=torch.nn.Parameter(torch.randn(16)))),
}
for name, checkpoint in checkpoints.items():
    put("pytorch", f"{name}.pth", checkpoint)
    put("pickle", f"{name}.pkl", data_pkl(checkpoint))
put("pytorch", "deflated.pth", rezip(checkpoints["state-dict"], zipfile.ZIP_DEFLATED))
zipfile.ZIP64_LIMIT = 0  # every member and the end record in ZIP64 form, as torch.save writes files over 4 GB
put("pytorch", "zip64.pth", rezip(checkpoints["state-dict"]))

contiguous = collections.OrderedDict((k, v.contiguous().clone()) for k, v in state.items())
put("safetensors", "state-dict.safetensors", safetensors.torch.save(contiguous, metadata={"format": "pt"}))
put("safetensors", "empty.safetensors", safetensors.torch.save({"none": torch.zeros(0, 3)}))
