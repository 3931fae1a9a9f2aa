#!/usr/bin/python3
"""One table of every ratio `./run bench` measured, with the targets of the speed issue and
whether each is met: the last step of bench/run_all.sh.

Reads what the compare scripts wrote to bench/results/ (zoo.json, lenet.json, campaign.json,
trial.json, vuln.csv). A file older than --since (seconds since the epoch, the start of the run)
is not from this run: its rows are left out and named, so the table never mixes runs silently.
Every row gives ours, PyTorch's and "x better": how many times better we are on that metric
(ours / PyTorch for rates, PyTorch / ours for times, memory and slowdowns; above 1: we are better).
Prints the markdown table and writes bench/results/summary.md and summary.csv.

Usage: summary.py [--since SECONDS]
"""
import argparse, csv, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
results = os.path.join(here, "results")

# Training-speed targets per zoo model (ours / PyTorch images/s); every model at least 1.0.
TRAIN_TARGETS = {"resnet20": 1.5, "vgg11": 1.2, "vgg11_bn": 1.2, "vgg16": 1.2, "vgg16_bn": 1.2}
INFER_TARGET = 2.0
LENET_PASS_FMA_SHARE = 0.30
RESNET_TRIAL_OVER_PASS = 1.2
LOAD_SLOWDOWN = 2.0


def status(ok):
    return "met" if ok else "missed"


def load(name, since, stale):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None
    if since is not None and os.path.getmtime(path) < since:
        stale.append(name)
        return None
    if name.endswith(".csv"):
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    with open(path) as f:
        return json.load(f)


def zoo_rows(zoo):
    rows = []
    for r in zoo["rows"]:
        name = f"{r['model']} {r['input'].replace(',', 'x')}"
        target = TRAIN_TARGETS.get(r["model"], 1.0)
        rows.append(("zoo training img/s", name, r["proact_train_img_s"], r["pytorch_train_img_s"], r["train_ratio"],
                     f">= {target}", status(r["train_ratio"] >= target)))
        rows.append(("zoo inference img/s, one call per batch", name, r["proact_infer_img_s"], r["pytorch_infer_img_s"],
                     r["infer_ratio"], f">= {INFER_TARGET}", status(r["infer_ratio"] >= INFER_TARGET)))
        if "proact_eval_img_s" in r:
            rows.append(("zoo inference img/s, a set (layers::evaluate)", name, r["proact_eval_img_s"],
                         r["pytorch_infer_img_s"], r["eval_ratio"], f">= {INFER_TARGET}",
                         status(r["eval_ratio"] >= INFER_TARGET)))
        rows.append(("zoo training peak RSS MB", name, r["proact_peak_rss_mb"], r["pytorch_peak_rss_mb"],
                     r["pytorch_peak_rss_mb"] / r["proact_peak_rss_mb"], "ours below PyTorch's",
                     status(r["rss_below_pytorch"])))
    for r in zoo.get("load_rows", []):
        name = f"{r['model']} {r['input'].replace(',', 'x')}"
        rows.append(("training under load, slowdown (quiet / loaded)", name, r["proact_slowdown"],
                     r["pytorch_slowdown"], r["pytorch_slowdown"] / r["proact_slowdown"],
                     f"ours <= {LOAD_SLOWDOWN}x", status(r["slowdown_at_most_2x"])))
        rows.append(("training under load img/s", name, r["proact_train_img_s"], r["pytorch_train_img_s"],
                     r["train_ratio"], ">= 1.0", status(r["not_slower_than_pytorch"])))
    return rows


def lenet_rows(lenet):
    rows = []
    for r in lenet["rows"]:
        times_better = r["pytorch"] / r["proact"] if r["better"] == "lower" else r["proact"] / r["pytorch"]
        rows.append(("LeNet-5 / Fashion-MNIST", r["metric"], r["proact"], r["pytorch"], times_better, "-", "-"))
    return rows


def campaign_rows(campaign):
    rows = [("campaign ms per trial (LeNet-5, float32)", f"BER {r['ber']:g}", r["proact_trial_ms"],
             r["pytorch_trial_ms"], r["pytorch_trial_ms"] / r["proact_trial_ms"], "-", "-")
            for r in campaign["rows"]]
    rows.append(("campaign ms per trial (LeNet-5, float32)", "all BERs: x faster", "", "", campaign["speedup_all"],
                 "-", "-"))
    return rows


def trial_rows(trial):
    rows = []
    for r in trial["rows"]:
        name = f"{r['model']} {r['input']}"
        rows.append(("campaign trial ms", name, r["trial_ms_ours"], r["trial_ms_pytorch"], r["trial_speedup"],
                     "-", "-"))
        if r["model"] == "resnet20":
            rows.append(("campaign trial / fault-free pass", name, r["trial_over_pass_ours"],
                         r["trial_over_pass_pytorch"], r["trial_over_pass_pytorch"] / r["trial_over_pass_ours"],
                         f"ours <= {RESNET_TRIAL_OVER_PASS}",
                         status(r["trial_over_pass_ours"] <= RESNET_TRIAL_OVER_PASS)))
        if r["model"] == "lenet5":
            rows.append(("fault-free pass, share of the FMA peak", name, r["pass_fma_share_ours"],
                         r["pass_fma_share_pytorch"], r["pass_fma_share_ours"] / r["pass_fma_share_pytorch"],
                         f"ours >= {LENET_PASS_FMA_SHARE:.0%}",
                         status(r["pass_fma_share_ours"] >= LENET_PASS_FMA_SHARE)))
    return rows


def vuln_rows(vuln):
    return [("vulnerability map, injections/s", r["model"], float(r["ours_inj_per_s"]), float(r["torch_inj_per_s"]),
             float(r["ratio"]), "-", "-") for r in vuln]


def number(value):
    if value == "":
        return ""
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def main():
    parser = argparse.ArgumentParser(description="One table of the ratios ./run bench measured")
    parser.add_argument("--since", type=float, default=None,
                        help="leave out result files older than this (seconds since the epoch)")
    options = parser.parse_args()
    stale, rows = [], []
    for name, make in (("zoo.json", zoo_rows), ("lenet.json", lenet_rows), ("campaign.json", campaign_rows),
                       ("trial.json", trial_rows), ("vuln.csv", vuln_rows)):
        data = load(name, options.since, stale)
        if data is not None:
            rows += make(data)
    if not rows:
        sys.exit("summary.py: no results in bench/results" + (f" newer than the run (stale: {', '.join(stale)})"
                                                              if stale else ""))
    lines = ["| benchmark | row | ours | PyTorch | x better | target | status |", "|---|---|---:|---:|---:|---|---|"]
    for bench, row, ours, theirs, ratio, target, state in rows:
        lines.append(f"| {bench} | {row} | {number(ours)} | {number(theirs)} | {ratio:.2f} | {target} | {state} |")
    met = sum(1 for r in rows if r[6] == "met")
    missed = [f"{r[0]}: {r[1]}" for r in rows if r[6] == "missed"]
    lines += ["", f"Targets: {met} met, {len(missed)} missed" + (": " + "; ".join(missed) if missed else "") + "."]
    if stale:
        lines.append(f"Left out, older than this run: {', '.join(stale)}.")
    table = "\n".join(lines)
    print(table)
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "summary.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(results, "summary.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["benchmark", "row", "ours", "pytorch", "times_better", "target", "status"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
