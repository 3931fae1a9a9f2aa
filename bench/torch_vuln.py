#!/usr/bin/python3
"""The PyTorch peer of bench_vuln: single-bit weight injections, one at a time, as a PyTorch
fault-injection script does them (PyTorchFI-style): flip one bit of one float32 weight through a
numpy uint32 view, run the whole model on the evaluation images, compare each image's top-1 with
the fault-free run (SDC), flip the bit back.

  - LeNet-5 (torch_zoo.py's, the zoo's architecture) on 1,000 Fashion-MNIST test images, bits 31,
    30, 22 and 0 of every conv/linear weight and bias;
  - ResNet-20 at 3x32x32 on 200 seeded noise images, bits 31 and 30, initial weights.
Sites are drawn uniformly over (tensor, bit) strata, then uniformly within one: the cost of an
injection here does not depend on the site (the whole network runs every time).

Prints "vuln MODEL images N injections I seconds T inj_per_s R" like bench_vuln.
Usage: torch_vuln.py [threads] [injections] [data_dir]
"""
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_zoo import make_model  # noqa: E402

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"


def idx_images(path, count):
    with gzip.open(path, "rb") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        data = np.frombuffer(f.read(count * rows * cols), dtype=np.uint8)
    return torch.from_numpy(data.reshape(count, 1, rows, cols).astype(np.float32) / 255.0)


def run(name, model, images, bits, injections, rng):
    model.eval()
    with torch.no_grad():
        golden = model(images).argmax(1)
        targets = [p for n, p in model.named_parameters() if n.endswith("weight") or n.endswith("bias")]
        strata = [(t, b) for t in targets for b in bits]
        start = time.perf_counter()
        sdc = 0
        for _ in range(injections):
            tensor, bit = strata[rng.integers(len(strata))]
            words = tensor.data.view(-1).numpy().view(np.uint32)
            element = rng.integers(words.size)
            words[element] ^= np.uint32(1 << bit)
            sdc += int((model(images).argmax(1) != golden).sum())
            words[element] ^= np.uint32(1 << bit)
        seconds = time.perf_counter() - start
    print(f"vuln {name} images {images.shape[0]} injections {injections} seconds {seconds:.3f} "
          f"inj_per_s {injections / seconds:.1f} sdc_images {sdc}", flush=True)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    injections = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    data_dir = sys.argv[3] if len(sys.argv) > 3 else DEFAULT_DATA_DIR
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = idx_images(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"), 1000)
    run("lenet5", make_model("lenet5", (1, 28, 28)), images, [0, 22, 30, 31], injections, rng)
    noise = torch.from_numpy(np.random.default_rng(1).random((200, 3, 32, 32), dtype=np.float32))
    run("resnet20", make_model("resnet20", (3, 32, 32)), noise, [30, 31], max(10, injections // 10), rng)


if __name__ == "__main__":
    main()
