#!/usr/bin/python3
"""The PyTorch peer of bench_lenet and bench_campaign: the same LeNet-5 / Fashion-MNIST job in
PyTorch 1.13 (Debian's python3-torch), read from the same IDX files.

  - one training epoch over the 60,000 training images: batch 64, shuffled, SGD lr 0.05 momentum
    0.9, pixels / 255 (no normalisation), cross-entropy; test accuracy after each epoch;
  - inference throughput on the 10,000 test images in batches of 1000 (best of 3 after a warm-up);
  - peak RSS of this process;
  - with "campaign": a PyTorch-style float32 weight fault campaign, the way such campaigns are
    usually written: for each trial, copy the golden weights, flip bits through numpy uint32 views
    (each bit of every parameter flipped with probability BER: a binomial count, then that many
    distinct bit positions), evaluate the whole model on the test set, restore the golden weights.
    20 trials at each of BER 1e-6, 1e-5, 1e-4.

Prints "key value" lines that bench/compare_lenet.py and bench/compare_campaign.py read:
  epoch 0 train_s 9.31 batches 938 acc 84.10
  inference_10k_s 0.596 img_per_s 16781
  peak_rss_mb 588.0
  ber 1e-06 mean_acc 84.09 std 0.02 campaign_20_s 9.6 trial_ms 480.0

Usage: torch_lenet.py [threads] [epochs] [campaign] [data_dir]
Torch is needed by this script only: never by the build or the tests.
"""
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
BATCH = 64
LR = 0.05
MOMENTUM = 0.9
EVAL_BATCH = 1000
BERS = [1e-6, 1e-5, 1e-4]
TRIALS = 20
SEED = 0


class LeNet5(nn.Module):
    """The zoo's lenet5 on 1x28x28: the same layers, shapes and parameter names."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def read_idx(path):
    """An IDX file (gzip or plain) as a numpy array of its header's shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def idx_path(data_dir, name):
    compressed = os.path.join(data_dir, name + ".gz")
    return compressed if os.path.exists(compressed) else os.path.join(data_dir, name)


def load_split(data_dir, prefix):
    images = read_idx(idx_path(data_dir, prefix + "-images-idx3-ubyte"))
    labels = read_idx(idx_path(data_dir, prefix + "-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def train_epoch(model, optimizer, x, y, generator):
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    batches = 0
    start = time.perf_counter()
    for first in range(0, x.shape[0], BATCH):
        index = order[first:first + BATCH]
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        batches += 1
    return time.perf_counter() - start, batches


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for first in range(0, x.shape[0], EVAL_BATCH):
        correct += (model(x[first:first + EVAL_BATCH]).argmax(1) == y[first:first + EVAL_BATCH]).sum().item()
    return 100.0 * correct / x.shape[0]


def inference_seconds(model, x, y):
    accuracy(model, x, y)  # warm-up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        accuracy(model, x, y)
        best = min(best, time.perf_counter() - start)
    return best


def flip_bits(golden, ber, rng):
    """A copy of the float32 array `golden` with each of its bits flipped with probability `ber`."""
    faulty = golden.copy()
    words = faulty.view(np.uint32).reshape(-1)
    bits = words.size * 32
    count = rng.binomial(bits, ber)
    if count:
        positions = rng.choice(bits, size=count, replace=False)
        np.bitwise_xor.at(words, positions // 32, (np.uint32(1) << (positions % 32).astype(np.uint32)))
    return faulty


def campaign(model, x, y):
    """Per BER: TRIALS times copy + flip every parameter, evaluate, restore; prints one line each."""
    rng = np.random.default_rng(SEED)
    parameters = list(model.parameters())
    golden = [p.detach().numpy().copy() for p in parameters]
    for ber in BERS:
        accuracies = []
        start = time.perf_counter()
        for _ in range(TRIALS):
            with torch.no_grad():
                for parameter, values in zip(parameters, golden):
                    parameter.copy_(torch.from_numpy(flip_bits(values, ber, rng)))
            accuracies.append(accuracy(model, x, y))
            with torch.no_grad():
                for parameter, values in zip(parameters, golden):
                    parameter.copy_(torch.from_numpy(values))
        seconds = time.perf_counter() - start
        print(f"ber {ber:g} mean_acc {np.mean(accuracies):.2f} std {np.std(accuracies):.2f} "
              f"campaign_20_s {seconds:.3f} trial_ms {1000.0 * seconds / TRIALS:.2f}", flush=True)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with_campaign = len(sys.argv) > 3 and sys.argv[3] == "campaign"
    data_dir = sys.argv[4] if len(sys.argv) > 4 else DEFAULT_DATA_DIR
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    train_x, train_y = load_split(data_dir, "train")
    test_x, test_y = load_split(data_dir, "t10k")
    model = LeNet5()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    for epoch in range(epochs):
        seconds, batches = train_epoch(model, optimizer, train_x, train_y, generator)
        print(f"epoch {epoch} train_s {seconds:.3f} batches {batches} acc {accuracy(model, test_x, test_y):.2f}",
              flush=True)
    best = inference_seconds(model, test_x, test_y)
    print(f"inference_10k_s {best:.4f} img_per_s {test_x.shape[0] / best:.0f}", flush=True)
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.1f}", flush=True)
    if with_campaign:
        print(f"fault_free_acc {accuracy(model, test_x, test_y):.2f}", flush=True)
        campaign(model, test_x, test_y)


if __name__ == "__main__":
    main()
