#!/usr/bin/python3
"""The PyTorch peer of bench_zoo: every zoo model (layers/zoo.cpp) defined in PyTorch as our zoo
defines it, trained and run on the same synthetic job, printing the same "key value" lines.

  - data: POOL batches of seeded random images in [0, 1) of the given shape and random labels of
    10 classes (POOL = min(warm-up + steps, 4) batches, cycled), held in memory;
  - training: train mode, SGD lr 0.01 momentum 0.9, cross-entropy; `warmup` steps, then `steps`
    timed steps (forward, loss, zero_grad, backward, step);
  - inference: eval mode under torch.no_grad(); one warm-up batch, then `infer_batches` timed
    batches of the same size;
  - FLOPs: multiply-adds x 2 of every Conv2d and Linear in one forward pass of one image (forward
    hooks), training taken as 3 forward passes. compare_zoo.py checks that the parameter and FLOP
    counts equal bench_zoo's, so the architectures cannot drift apart unnoticed.

Usage: torch_zoo.py MODEL [C,H,W] [batch] [steps] [infer_batches] [threads] [warmup]
       torch_zoo.py gemm [threads]   torch's own 1024^3 float32 matmul rate (gemm_1024_gflops) and
                                     its kernel path: version, oneDNN (mkldnn), the BLAS library
                                     loaded, the ATen ops a conv and a linear layer dispatch to.
Torch is needed by this script only: never by the build or the tests.
"""
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = 10
LR = 0.01
MOMENTUM = 0.9
SEED = 0


class LeNet5(nn.Module):
    """features (conv5 pad 2, relu, pool, conv5, relu, pool), flatten, classifier 120-84-classes."""

    def __init__(self, shape):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(shape[0], 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(flat_size(self.features, shape), 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, CLASSES))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


class AlexNet(nn.Module):
    """The reliable-relu-toolbox's CIFAR AlexNet: five 3x3 convs (the first with stride 2), three
    max pools, classifier dropout-4096-relu-dropout-4096-relu-classes."""

    def __init__(self, shape):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(shape[0], 64, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(flat_size(self.features, shape), 4096), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, CLASSES))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


VGG_CONFIGS = {  # output channels of the 3x3 convs, 0 for a 2x2 max pool (torchvision's "A" and "D")
    "vgg11": [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    "vgg16": [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
}


class VGG(nn.Module):
    """3x3 convs (pad 1, with bias), batch norm after each with batch_norm, 2x2 max pools (one whose
    input is smaller than 2x2 is left out, as the zoo does on 28x28), classifier 512-relu-512-relu-classes."""

    def __init__(self, config, batch_norm, shape):
        super().__init__()
        layers, channels, size = [], shape[0], min(shape[1], shape[2])
        for out in config:
            if out == 0:
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            layers.append(nn.Conv2d(channels, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            channels = out
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(flat_size(self.features, shape), 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, CLASSES))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


class BasicBlock(nn.Module):
    """conv3x3(stride)-bn-relu-conv3x3-bn, + shortcut (identity, or option B: conv1x1(stride)+bn
    when the shape changes), relu. Convolutions without bias."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet20(nn.Module):
    """CIFAR ResNet-20: conv1 (3x3, 16, no bias), bn1, relu, three stages of three BasicBlocks
    (16/32/64 channels, stride 2 at the first block of stages 2 and 3), global average pool, linear."""

    def __init__(self, shape):
        super().__init__()
        self.conv1 = nn.Conv2d(shape[0], 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        blocks, in_channels = [], 16
        for stage, channels in enumerate([16, 32, 64]):
            stage_blocks = []
            for block in range(3):
                stage_blocks.append(BasicBlock(in_channels, channels, 2 if stage > 0 and block == 0 else 1))
                in_channels = channels
            blocks.append(nn.Sequential(*stage_blocks))
        self.layer1, self.layer2, self.layer3 = blocks
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, CLASSES)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.flatten(self.avgpool(x), 1))


def flat_size(features, shape):
    """The flattened size of the features' output for one image (eval mode: batch norm's running
    statistics stay untouched)."""
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, *shape)).numel()
    features.train()
    return size


def make_model(name, shape):
    if name == "lenet5":
        return LeNet5(shape)
    if name == "alexnet":
        return AlexNet(shape)
    if name in ("vgg11", "vgg11_bn", "vgg16", "vgg16_bn"):
        return VGG(VGG_CONFIGS[name[:5]], name.endswith("_bn"), shape)
    if name == "resnet20":
        return ResNet20(shape)
    sys.exit(f"torch_zoo.py: unknown model {name}")


def forward_flops_per_image(model, shape):
    macs = [0]

    def conv_hook(module, _, out):
        macs[0] += out.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]

    def linear_hook(module, _, out):
        macs[0] += out.numel() * module.in_features

    handles = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
               for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    model.train(was_training)
    for handle in handles:
        handle.remove()
    return 2 * macs[0]


def kernel_path():
    """Lines naming what PyTorch computes with: version, oneDNN, the BLAS library it loaded, and the
    ATen ops a conv and a linear layer (forward and backward) dispatch to."""
    lines = [f"torch_version {torch.__version__}",
             f"mkldnn_available {int(torch.backends.mkldnn.is_available())}",
             f"mkldnn_enabled {int(torch.backends.mkldnn.enabled)}"]
    for line in torch.__config__.show().splitlines():
        text = line.strip().lstrip("- ")
        if "MKL-DNN" in text or "oneDNN" in text:
            lines.append("torch_onednn " + text.replace(" ", "_"))
        if text.startswith("CPU capability usage"):
            lines.append("torch_cpu_capability " + text.split(":", 1)[1].strip())
    libraries = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if any(key in base for key in ("blas", "dnnl", "mkl")):
                libraries.add(os.path.realpath(path))
    for path in sorted(libraries):
        lines.append(f"torch_library {path}")
    x = torch.rand(8, 16, 16, 16, requires_grad=True)
    conv, linear = nn.Conv2d(16, 16, 3, padding=1), nn.Linear(64, 10)
    with torch.autograd.profiler.profile() as profile:
        conv(x).sum().backward()
        linear(torch.rand(4, 64)).sum().backward()
    ops = sorted({event.name for event in profile.function_events
                  if event.name.startswith("aten::") and any(k in event.name for k in ("conv", "mm"))})
    lines.append("torch_conv_linear_ops " + ",".join(ops))
    return lines


def gemm(threads):
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(SEED)
    a = torch.rand(1024, 1024, generator=generator) * 2 - 1
    b = torch.rand(1024, 1024, generator=generator) * 2 - 1
    c = torch.empty(1024, 1024)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(3):  # as bench_gemm: best of rounds of a few calls each
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - start)
    print(f"threads {threads}\ngemm_1024_gflops {2 * 1024 ** 3 / best * 1e-9:.2f}")
    for line in kernel_path():
        print(line)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "gemm":
        gemm(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
        return
    name = sys.argv[1]
    shape = tuple(int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "3,32,32").split(","))
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    infer_batches = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    warmup = int(sys.argv[7]) if len(sys.argv) > 7 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    model = make_model(name, shape)
    forward_flops = forward_flops_per_image(model, shape)
    train_flops = 3 * forward_flops

    pool = min(warmup + steps, 4)
    generator = torch.Generator().manual_seed(SEED)
    images = torch.rand(pool * batch, *shape, generator=generator)
    labels = torch.randint(0, CLASSES, (pool * batch,), generator=generator)

    def batch_of(i):
        first = (i % pool) * batch
        return images[first:first + batch], labels[first:first + batch]

    print(f"model {name}\ninput {','.join(map(str, shape))}\nbatch {batch}\nthreads {threads}\n"
          f"parameters {sum(p.numel() for p in model.parameters())}\n"
          f"forward_flops_per_image {forward_flops}\ntrain_flops_per_image {train_flops}", flush=True)

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_value = [0.0]

    def train_step(i):
        x, y = batch_of(i)
        loss = F.cross_entropy(model(x), y)
        loss_value[0] = loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for i in range(warmup):
        train_step(i)
    start = time.perf_counter()
    for i in range(steps):
        train_step(warmup + i)
    seconds = time.perf_counter() - start
    rate = steps * batch / seconds
    print(f"train_steps {steps}\ntrain_seconds {seconds:.4f}\ntrain_images_per_second {rate:.2f}\n"
          f"train_gflops {rate * train_flops * 1e-9:.3f}\nfinal_loss {loss_value[0]:.4f}", flush=True)

    model.eval()
    with torch.no_grad():
        model(batch_of(0)[0])
        start = time.perf_counter()
        for i in range(infer_batches):
            model(batch_of(i)[0])
        seconds = time.perf_counter() - start
    rate = infer_batches * batch / seconds
    print(f"infer_batches {infer_batches}\ninfer_seconds {seconds:.4f}\ninfer_images_per_second {rate:.2f}\n"
          f"infer_gflops {rate * forward_flops * 1e-9:.3f}", flush=True)
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.1f}", flush=True)


if __name__ == "__main__":
    main()
