#!/usr/bin/python3
"""Fault campaign speed against the PyTorch peer, side by side in one run.

Both sides train LeNet-5 on Fashion-MNIST for one epoch, then run a float32 weight bit-flip campaign
at BER 1e-6, 1e-5 and 1e-4 with 20 trials each on the 10,000 test images:
  - bench/torch_lenet.py campaign: copy the golden weights, flip bits with numpy, evaluate the whole
    model, 20 times per BER;
  - our bench_campaign: proact's campaign runner (in-place flips and bit-exact restore, fault-free
    reuse, stage cache, channel-sparse restarts), set-up included.
They run one after the other with the same thread count. Prints the time per trial for each BER and
the ratio (PyTorch / proact: how many times faster we are), and writes bench/results/campaign.csv
and .json. The accuracies are printed too; they differ a little because each side trains its own
model with its own random numbers.

Usage: compare_campaign.py BUILD_DIR [threads] [checkpoint]
  checkpoint: our model from a file instead of training one (PyTorch always trains).
"""
import json, os, subprocess, sys, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
threads = sys.argv[2] if len(sys.argv) > 2 else "2"
checkpoint = sys.argv[3] if len(sys.argv) > 3 else "-"
here = os.path.dirname(os.path.abspath(__file__))
peer = os.path.join(here, "torch_lenet.py")
TRIALS = 20


def run(command):
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.splitlines(), time.time() - start


def campaign_lines(lines):
    """{ber: {"mean_acc": .., "std": .., "campaign_20_s": ..}} from 'ber X key value ...' lines."""
    rows = {}
    for line in lines:
        parts = line.split()
        if len(parts) < 2 or parts[0] != "ber":
            continue
        values = {}
        for key, value in zip(parts[2::2], parts[3::2]):
            try:
                values[key] = float(value)
            except ValueError:
                pass
        rows[float(parts[1])] = values
    return rows


ours_lines, ours_wall = run([os.path.join(build, "bench_campaign"), threads, checkpoint])
peer_lines, peer_wall = run(["/usr/bin/python3", peer, threads, "1", "campaign"])
ours, theirs = campaign_lines(ours_lines), campaign_lines(peer_lines)
if sorted(ours) != sorted(theirs):
    sys.exit(f"BER lists differ: proact {sorted(ours)}, pytorch {sorted(theirs)}")

rows = []
for ber in sorted(ours):
    our_ms = 1000.0 * ours[ber]["campaign_20_s"] / TRIALS
    peer_ms = 1000.0 * theirs[ber]["campaign_20_s"] / TRIALS
    rows.append({"ber": ber, "proact_trial_ms": our_ms, "pytorch_trial_ms": peer_ms, "speedup": peer_ms / our_ms,
                 "proact_mean_acc": ours[ber].get("mean_acc"), "pytorch_mean_acc": theirs[ber].get("mean_acc")})
our_total = sum(r["proact_trial_ms"] for r in rows)
peer_total = sum(r["pytorch_trial_ms"] for r in rows)

print(f"# Fault campaign, LeNet-5 / Fashion-MNIST, float32, {TRIALS} trials per BER, {threads} threads "
      f"(speedup = pytorch time / proact time per trial)")
print(f"{'BER':>8s} {'proact ms/trial':>16s} {'pytorch ms/trial':>17s} {'speedup':>8s} {'proact acc':>11s} {'pytorch acc':>12s}")
for r in rows:
    print(f"{r['ber']:8g} {r['proact_trial_ms']:16.1f} {r['pytorch_trial_ms']:17.1f} {r['speedup']:8.1f} "
          f"{r['proact_mean_acc']:11.2f} {r['pytorch_mean_acc']:12.2f}")
print(f"{'all':>8s} {our_total / len(rows):16.1f} {peer_total / len(rows):17.1f} {peer_total / our_total:8.1f}")

os.makedirs(os.path.join(here, "results"), exist_ok=True)
with open(os.path.join(here, "results", "campaign.json"), "w") as f:
    json.dump({"threads": int(threads), "trials_per_ber": TRIALS, "rows": rows,
               "speedup_all": peer_total / our_total, "proact_output": ours_lines, "pytorch_output": peer_lines},
              f, indent=2)
with open(os.path.join(here, "results", "campaign.csv"), "w") as f:
    f.write("ber,proact_trial_ms,pytorch_trial_ms,speedup,proact_mean_acc,pytorch_mean_acc\n")
    for r in rows:
        f.write(f"{r['ber']:g},{r['proact_trial_ms']:.3f},{r['pytorch_trial_ms']:.3f},{r['speedup']:.3f},"
                f"{r['proact_mean_acc']},{r['pytorch_mean_acc']}\n")
