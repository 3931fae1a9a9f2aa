#!/usr/bin/python3
"""Single-bit injections per second, ours (bench_vuln: the vulnerability map's Campaign::run_faults,
stage cache and channel-sparse restart) against the PyTorch peer (torch_vuln.py: one full forward
per injection), in one run, same threads, same models, images and bits. Prints one markdown table
and writes bench/results/vuln.csv.

Usage: compare_vuln.py BUILD_DIR [threads]
"""
import os
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
threads = sys.argv[2] if len(sys.argv) > 2 else "2"
here = os.path.dirname(os.path.abspath(__file__))


def rows(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "vuln":
            found[parts[1]] = {parts[i]: parts[i + 1] for i in range(2, len(parts) - 1, 2)}
    return found


ours = rows([os.path.join(build, "bench_vuln"), threads])
peer = rows([sys.executable, os.path.join(here, "torch_vuln.py"), threads])
print(f"| model | images | ours inj/s | PyTorch inj/s | ratio |")
print("|---|---:|---:|---:|---:|")
lines = ["model,images,ours_inj_per_s,torch_inj_per_s,ratio"]
for model in ("lenet5", "resnet20"):
    a, b = float(ours[model]["inj_per_s"]), float(peer[model]["inj_per_s"])
    print(f"| {model} | {ours[model]['images']} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")
    lines.append(f"{model},{ours[model]['images']},{a:.1f},{b:.1f},{a / b:.3f}")
os.makedirs(os.path.join(here, "results"), exist_ok=True)
with open(os.path.join(here, "results", "vuln.csv"), "w") as f:
    f.write("\n".join(lines) + "\n")
