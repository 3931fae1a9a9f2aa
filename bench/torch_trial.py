#!/usr/bin/python3
"""The PyTorch peer of bench_trial: what one weight bit-flip trial costs against one fault-free
inference pass, on a zoo model defined as bench/torch_zoo.py defines it.

The job: the model in eval mode (seed 0), N seeded random images in [0, 1) with random labels,
float32 weights; a trial flips each bit of every parameter with probability BER (per tensor a
binomial count, positions without repetition, through a numpy uint32 view, as Python
fault-injection toolboxes do), runs the whole model over the N images under torch.no_grad() in
batches of `batch`, counts correct top-1 predictions, and restores the flipped words.
  - pass_ms: one fault-free pass over the N images, best of three;
  - trial_ms: the mean time of a trial, flips and restores included.
Prints "key value" lines like bench_trial.

Usage: torch_trial.py MODEL [C,H,W] [images] [trials] [threads] [ber] [batch]
Torch is needed by this script only: never by the build or the tests.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_zoo import CLASSES, make_model  # noqa: E402


def correct_count(model, images, labels, batch):
    correct = 0
    with torch.no_grad():
        for first in range(0, images.shape[0], batch):
            logits = model(images[first:first + batch])
            correct += int((logits.argmax(1) == labels[first:first + batch]).sum())
    return correct


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: torch_trial.py MODEL [C,H,W] [images] [trials] [threads] [ber] [batch]")
    name = sys.argv[1]
    shape = tuple(int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "3,32,32").split(","))
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    trials = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    ber = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-5
    batch = int(sys.argv[7]) if len(sys.argv) > 7 else 1000
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = make_model(name, shape)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((count,) + shape, generator=generator)
    labels = torch.randint(0, CLASSES, (count,), generator=generator)

    pass_seconds = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        correct_count(model, images, labels, batch)
        pass_seconds = min(pass_seconds, time.perf_counter() - start)

    rng = np.random.default_rng(0)
    words = [p.data.view(-1).numpy().view(np.uint32) for p in model.parameters()]
    total_correct = 0
    start = time.perf_counter()
    for _ in range(trials):
        saved = []
        for w in words:
            bits = w.size * 32
            flips = rng.binomial(bits, ber)
            if flips == 0:
                continue
            positions = rng.choice(bits, size=flips, replace=False)
            index = positions // 32
            saved.append((w, index, w[index].copy()))
            np.bitwise_xor.at(w, index, (np.uint32(1) << (positions % 32).astype(np.uint32)))
        total_correct += correct_count(model, images, labels, batch)
        for w, index, old in reversed(saved):
            w[index] = old
    trial_seconds = (time.perf_counter() - start) / trials
    parameters = sum(w.size for w in words)
    print(f"model {name}\ninput {','.join(map(str, shape))}\nimages {count}\nthreads {threads}\nber {ber:g}")
    print(f"parameters {parameters}\nexpected_flips {ber * 32 * parameters:.2f}\nbatch {batch}\ntrials {trials}")
    print(f"pass_ms {1e3 * pass_seconds:.3f}\ntrial_ms {1e3 * trial_seconds:.3f}")
    print(f"trial_over_pass {trial_seconds / pass_seconds:.3f}")
    print(f"mean_accuracy {100.0 * total_correct / (trials * count):.4f}")


if __name__ == "__main__":
    main()
