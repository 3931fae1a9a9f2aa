#!/usr/bin/python3
"""What a fault-campaign trial costs, ours against PyTorch, side by side in one run.

For LeNet-5 (1x28x28) and ResNet-20 (3x32x32) it runs our bench_trial and then
bench/torch_trial.py with the same model, images, trials, BER (float32 weights, every trial flips
something: see expected_flips) and threads, and the cores' measured FMA peak (bench_fma). Per row:
  - a fault-free inference pass over the images (ms), ours / PyTorch;
  - one trial (ms), ours (set-up shared out over the trials) / PyTorch (flips and restores
    included), and how many times faster ours is;
  - ours: trial / pass (the issue's target for ResNet-20: at most 1.2);
  - the pass's GFLOP/s as a share of the FMA peak (the target for LeNet-5: at least 30%).
Writes bench/results/trial.csv, trial.json and trial.md.

Usage: compare_trial.py BUILD_DIR [threads] [--quick]
  --quick: a tenth of the images and 2 trials, a smoke test of every path, not a measurement.
"""
import csv, json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
# (model, input, images, trials, BER): about 20 flips per LeNet-5 trial, 9 per ResNet-20 trial.
ROWS = [
    ("lenet5", "1,28,28", 10000, 20, 1e-5),
    ("resnet20", "3,32,32", 1000, 10, 1e-6),
]


def key_values(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    values = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        values[key] = value
    return values


def main():
    quick = "--quick" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--quick"]
    build = args[0] if args else "build"
    threads = args[1] if len(args) > 1 else "2"
    peak = float(key_values([os.path.join(build, "bench_fma"), threads, "1"])["fma_peak_gflops"])
    rows = []
    for model, shape, images, trials, ber in ROWS:
        if quick:
            images, trials = images // 10, 2
        ours = key_values([os.path.join(build, "bench_trial"), model, shape, str(images), str(trials), threads,
                           repr(ber)])
        peer = key_values([PYTHON, os.path.join(here, "torch_trial.py"), model, shape, str(images), str(trials),
                           threads, repr(ber), ours["batch"]])
        if ours["parameters"] != peer["parameters"]:
            sys.exit(f"{model}: parameter counts differ ({ours['parameters']} / {peer['parameters']})")
        pass_ours, pass_peer = float(ours["pass_ms"]), float(peer["pass_ms"])
        trial_ours, trial_peer = float(ours["trial_ms"]), float(peer["trial_ms"])
        flops = float(ours["forward_flops_per_image"]) * images
        rows.append({
            "model": model, "input": shape.replace(",", "x"), "images": images, "trials": trials, "ber": ber,
            "batch": int(ours["batch"]), "expected_flips": float(ours["expected_flips"]),
            "pass_ms_ours": pass_ours, "pass_ms_pytorch": pass_peer,
            "trial_ms_ours": trial_ours, "trial_ms_pytorch": trial_peer,
            "trial_speedup": trial_peer / trial_ours,
            "trial_over_pass_ours": trial_ours / pass_ours, "trial_over_pass_pytorch": trial_peer / pass_peer,
            "pass_fma_share_ours": flops / (pass_ours * 1e-3) * 1e-9 / peak,
            "pass_fma_share_pytorch": flops / (pass_peer * 1e-3) * 1e-9 / peak,
        })
        print(f"# {model} {shape}: pass {pass_ours:.1f} / {pass_peer:.1f} ms, trial {trial_ours:.1f} / "
              f"{trial_peer:.1f} ms", flush=True)
    lines = [
        f"FMA peak (bench_fma, {threads} threads): {peak:.1f} GFLOP/s. Float32 weights, random images, "
        f"each trial flips bits at the BER (expected flips per trial in the table).",
        "",
        "| model | input | images | BER (flips/trial) | pass ms (ours / PyTorch) | trial ms (ours / PyTorch) "
        "| trial: x faster | ours trial / pass | pass share of FMA peak (ours / PyTorch) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['images']} | {r['ber']:g} ({r['expected_flips']:.1f}) "
            f"| {r['pass_ms_ours']:.1f} / {r['pass_ms_pytorch']:.1f} | {r['trial_ms_ours']:.1f} / "
            f"{r['trial_ms_pytorch']:.1f} | {r['trial_speedup']:.2f} | {r['trial_over_pass_ours']:.2f} "
            f"| {100 * r['pass_fma_share_ours']:.1f}% / {100 * r['pass_fma_share_pytorch']:.1f}% |")
    table = "\n".join(lines)
    print(table)
    if quick:
        return
    out = os.path.join(here, "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "trial.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(out, "trial.json"), "w") as f:
        json.dump({"fma_peak_gflops": peak, "threads": int(threads), "rows": rows}, f, indent=2)
    with open(os.path.join(out, "trial.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
