#!/usr/bin/python3
"""Side-by-side LeNet-5 / Fashion-MNIST comparison with the PyTorch peer, in one run.

Runs bench/torch_lenet.py and our bench_lenet with the same thread count, one after the
other, parses their "key value" lines, measures each process's peak RSS, and prints the ratios
(ours relative to PyTorch). Writes the rows to bench/results/lenet.csv and .json as well.

Usage: compare_lenet.py BUILD_DIR [threads] [epochs]
"""
import json, os, subprocess, sys, tempfile, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
threads = sys.argv[2] if len(sys.argv) > 2 else "2"
epochs = sys.argv[3] if len(sys.argv) > 3 else "1"
here = os.path.dirname(os.path.abspath(__file__))
peer = os.path.join(here, "torch_lenet.py")


def run(command):
    """Runs a command; returns (stdout lines, that child's own peak RSS in MB, seconds)."""
    start = time.time()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0); err.seek(0)
        if child.returncode != 0:
            sys.exit(f"{command[0]} failed ({child.returncode}):\n{err.read()}")
        return out.read().splitlines(), usage.ru_maxrss / 1024.0, time.time() - start


def parse(lines):
    values = {}
    for line in lines:
        parts = line.split()
        for i in range(0, len(parts) - 1):
            key, value = parts[i], parts[i + 1]
            try:
                values.setdefault(key, []).append(float(value))
            except ValueError:
                pass
    return values


ours_lines, ours_rss, _ = run([os.path.join(build, "bench_lenet"), threads, epochs])
peer_lines, peer_rss, _ = run(["/usr/bin/python3", peer, threads, epochs])
ours, theirs = parse(ours_lines), parse(peer_lines)

rows = []
def row(metric, our_value, peer_value, better):
    ratio = our_value / peer_value if peer_value else float("nan")
    rows.append({"metric": metric, "proact": our_value, "pytorch": peer_value, "ratio": ratio, "better": better})

row("train_epoch_s", ours["train_s"][0], theirs["train_s"][0], "lower")
row("test_accuracy_after_epoch_1", ours["acc"][0], theirs["acc"][0], "higher")
row("inference_img_per_s", ours["img_per_s"][-1], theirs["img_per_s"][-1], "higher")
row("peak_rss_mb", ours_rss, peer_rss, "lower")

print(f"# LeNet-5 / Fashion-MNIST, {threads} threads, batch 64, SGD lr 0.05 momentum 0.9 (ratio = proact / pytorch)")
print(f"{'metric':32s} {'proact':>12s} {'pytorch':>12s} {'ratio':>8s}")
for r in rows:
    print(f"{r['metric']:32s} {r['proact']:12.3f} {r['pytorch']:12.3f} {r['ratio']:8.3f}   ({r['better']} is better)")
os.makedirs(os.path.join(here, "results"), exist_ok=True)
with open(os.path.join(here, "results", "lenet.json"), "w") as f:
    json.dump({"threads": int(threads), "rows": rows, "proact_output": ours_lines, "pytorch_output": peer_lines}, f, indent=2)
with open(os.path.join(here, "results", "lenet.csv"), "w") as f:
    f.write("metric,proact,pytorch,ratio\n")
    for r in rows:
        f.write(f"{r['metric']},{r['proact']},{r['pytorch']},{r['ratio']}\n")
