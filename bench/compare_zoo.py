#!/usr/bin/python3
"""Every zoo model against PyTorch, side by side in one run: training and inference images/s (one
call per batch, and ours over the same images as one set through layers::evaluate, as `proact eval`
runs it), GFLOP/s as a share of each side's own 1024^3 GEMM rate, peak RSS, and the same under load.

For each row (every zoo model on 3x32x32, LeNet-5 also on 1x28x28) it runs our bench_zoo and then
bench/torch_zoo.py with the same model, input, batch, steps, inference batches, warm-up and threads,
one after the other, parses their "key value" lines and takes each child's peak RSS from wait4.
The denominators of the share: our `bench_gemm size=1024 THREADS` (the kernel in use, the first
column) and `torch_zoo.py gemm THREADS` (torch.mm), each measured once at the start.

Under load: for LeNet-5 (1x28x28) and ResNet-20 (3x32x32) both sides run again while one busy
process (`python3 -c 'while True: pass'`, started here and ended by its pid) holds a core; the
slowdown is the quiet training rate (the row above, same settings) over the loaded one. The targets
the issue sets are checked and printed: peak RSS below PyTorch's, slowdown at most 2x, and not
slower than PyTorch under the same load.

Prints one markdown table (and the under-load table) and writes bench/results/zoo.csv, zoo.json
and zoo.md (the tables with the machine and PyTorch's kernel path, what README.md shows).

Usage: compare_zoo.py BUILD_DIR [threads] [--quick] [--models all | lenet5,resnet20,...] [--batch N]
                      [--readme README.md]
  --readme: also rewrite the block between "<!-- zoo-table begin -->" and "<!-- zoo-table end -->"
  in that file with the tables of this run (refused with --quick).
  --quick: LeNet-5 and ResNet-20 only (unless --models), batch 4, 2 steps, 2 inference batches,
  no warm-up: a smoke test of every code path in seconds, not a measurement.
"""
import argparse, csv, ctypes, json, os, platform, signal, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
peer = os.path.join(here, "torch_zoo.py")
PYTHON = "/usr/bin/python3"

# (model, input, steps, inference batches, warm-up steps) at batch 64. From the CPU time of each
# side's steps (measured on the loaded machine, 2 cores): about 5-35 s per side and row on 2 idle
# cores, the whole table with the under-load rows about 5-6 minutes.
ROWS = [
    ("lenet5", "1,28,28", 200, 100, 5),
    ("lenet5", "3,32,32", 200, 100, 5),
    ("alexnet", "3,32,32", 20, 20, 2),
    ("vgg11", "3,32,32", 10, 10, 1),
    ("vgg11_bn", "3,32,32", 10, 10, 1),
    ("vgg16", "3,32,32", 8, 8, 1),
    ("vgg16_bn", "3,32,32", 8, 8, 1),
    ("resnet20", "3,32,32", 20, 20, 2),
]
LOAD_ROWS = [("lenet5", "1,28,28"), ("resnet20", "3,32,32")]
BUSY = [PYTHON, "-c", "while True: pass"]
README_BEGIN, README_END = "<!-- zoo-table begin -->", "<!-- zoo-table end -->"


def run(command, env=None):
    """Runs a command; returns (stdout lines, that child's own peak RSS in MB)."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0); err.seek(0)
        if code != 0:
            sys.exit(f"{' '.join(command)} failed ({code}):\n{err.read()}")
        return out.read().splitlines(), usage.ru_maxrss / 1024.0


def parse(lines):
    """{key: value} from "key value" lines (numbers as floats, anything else as text)."""
    values = {}
    for line in lines:
        key, _, value = line.partition(" ")
        try:
            values[key] = float(value)
        except ValueError:
            values[key] = value.strip()
    return values


def our_gemm_rate(build, threads):
    lines, _ = run([os.path.join(build, "bench_gemm"), "size=1024", threads])
    header = next(line for line in lines if line.startswith("shape"))
    row = next(line for line in lines if line.startswith("square") and line.split()[2] == "1024")
    kernel = header.split()[6]  # the first kernel column: the one bench_zoo runs
    return float(row.split()[6]), kernel, lines


def machine_name():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def torch_kernel_path(info):
    libraries = [v for k, v in info["lines"] if k == "torch_library"]
    blas = next((os.path.basename(p) for p in libraries if "openblas" in p and "libopenblas" in os.path.basename(p)),
                next((os.path.basename(p) for p in libraries if "blas" in p), "unknown BLAS"))
    onednn = info.get("torch_onednn", "").replace("_", " ")
    ops = info.get("torch_conv_linear_ops", "")
    conv = "oneDNN (aten::mkldnn_convolution)" if "mkldnn_convolution" in ops else \
        "ATen's own im2col + BLAS (no mkldnn_convolution)"
    return (f"PyTorch {info.get('torch_version', '?')}: convolutions through {conv}, {onednn}; "
            f"linear layers and torch.mm through {blas}; ATen CPU capability {info.get('torch_cpu_capability', '?')}")


def die_with_parent():
    """In the busy child before exec: the kernel kills it when this script ends, however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Busy:
    """One busy process holding a core for the duration of a `with` block (ended by its pid here,
    and by the kernel if this script dies first)."""

    def __enter__(self):
        self.process = subprocess.Popen(BUSY, preexec_fn=die_with_parent)
        time.sleep(0.3)
        return self

    def __exit__(self, *_):
        self.process.kill()
        self.process.wait()


def measure(build, threads, model, shape, batch, steps, infer, warmup, torch_env):
    args = [model, shape, str(batch), str(steps), str(infer), threads, str(warmup)]
    ours_lines, ours_rss = run([os.path.join(build, "bench_zoo")] + args)
    peer_lines, peer_rss = run([PYTHON, peer] + args, env=torch_env)
    ours, theirs = parse(ours_lines), parse(peer_lines)
    for key in ("parameters", "forward_flops_per_image"):
        if ours[key] != theirs[key]:
            sys.exit(f"{model} {shape}: {key} differ, proact {ours[key]:.0f} and PyTorch {theirs[key]:.0f}: "
                     "the two definitions are not the same network")
    return ours, theirs, ours_rss, peer_rss, ours_lines, peer_lines


def write_readme(path, table):
    """Replaces the text between the zoo-table markers of `path` by the tables, dated."""
    with open(path) as f:
        text = f.read()
    begin, end = README_BEGIN, README_END
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        sys.exit(f"compare_zoo.py: {path} has no single '{begin}' ... '{end}' block")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    body = f"{begin}\nMeasured {stamp} by `bench/compare_zoo.py build 2 --readme README.md`:\n\n{table}\n{end}"
    with open(path + ".tmp", "w") as f:
        f.write(head + body + tail)
    os.replace(path + ".tmp", path)


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build", nargs="?", default="build")
    parser.add_argument("threads", nargs="?", default="2")
    parser.add_argument("--quick", action="store_true", help="a smoke test of seconds: not a measurement")
    parser.add_argument("--models", help="comma-separated subset of the rows' models, or all "
                        "(default: all; --quick: lenet5,resnet20)")
    parser.add_argument("--readme", help="also put the tables between README's zoo-table markers in this file")
    parser.add_argument("--batch", type=int, default=None, help="batch size of every row (64; --quick: 4)")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("compare_zoo.py: terminated"))  # unwinds Busy
    if options.readme and options.quick:
        sys.exit("compare_zoo.py: --readme takes a full run's numbers, not --quick ones")
    threads = options.threads
    batch = options.batch or (4 if options.quick else 64)
    rows = [(m, s, 2, 2, 0) if options.quick else (m, s, steps, infer, warmup) for m, s, steps, infer, warmup in ROWS]
    models = options.models or ("lenet5,resnet20" if options.quick else "all")
    if models != "all":
        wanted = models.split(",")
        unknown = [m for m in wanted if m not in {r[0] for r in ROWS}]
        if unknown:
            sys.exit(f"compare_zoo.py: unknown model(s) {', '.join(unknown)}; known: {', '.join(dict.fromkeys(r[0] for r in ROWS))}")
        rows = [r for r in rows if r[0] in wanted]
    torch_env = dict(os.environ, OPENBLAS_NUM_THREADS=threads)  # torch.set_num_threads does not reach OpenBLAS

    load_before = os.getloadavg()
    our_gemm, our_kernel, gemm_lines = our_gemm_rate(options.build, threads)
    torch_gemm_lines, _ = run([PYTHON, peer, "gemm", threads], env=torch_env)
    torch_info = parse(torch_gemm_lines)
    torch_info["lines"] = [tuple(line.split(" ", 1)) for line in torch_gemm_lines if " " in line]
    torch_gemm = torch_info["gemm_1024_gflops"]
    machine = machine_name()
    kernel_path = torch_kernel_path(torch_info)

    results, outputs = [], {}
    for model, shape, steps, infer, warmup in rows:
        ours, theirs, ours_rss, peer_rss, ours_lines, peer_lines = measure(
            options.build, threads, model, shape, batch, steps, infer, warmup, torch_env)
        outputs[f"{model} {shape}"] = {"proact": ours_lines, "pytorch": peer_lines}
        results.append({
            "model": model, "input": shape, "batch": batch, "steps": steps, "infer_batches": infer,
            "warmup": warmup, "threads": int(threads), "load": "quiet",
            "parameters": int(ours["parameters"]), "forward_flops_per_image": ours["forward_flops_per_image"],
            "proact_train_img_s": ours["train_images_per_second"],
            "pytorch_train_img_s": theirs["train_images_per_second"],
            "train_ratio": ratio(ours["train_images_per_second"], theirs["train_images_per_second"]),
            "proact_infer_img_s": ours["infer_images_per_second"],
            "pytorch_infer_img_s": theirs["infer_images_per_second"],
            "infer_ratio": ratio(ours["infer_images_per_second"], theirs["infer_images_per_second"]),
            # the same images as one set: ours through layers::evaluate (proact eval's way), PyTorch's
            # row is its loop over the batches (no set-level API of its own)
            "proact_eval_img_s": ours["eval_images_per_second"],
            "eval_ratio": ratio(ours["eval_images_per_second"], theirs["infer_images_per_second"]),
            "proact_train_gflops": ours["train_gflops"], "pytorch_train_gflops": theirs["train_gflops"],
            "proact_infer_gflops": ours["infer_gflops"], "pytorch_infer_gflops": theirs["infer_gflops"],
            "proact_eval_gflops": ours["eval_gflops"],
            "proact_train_gemm_share": ours["train_gflops"] / our_gemm,
            "pytorch_train_gemm_share": theirs["train_gflops"] / torch_gemm,
            "proact_infer_gemm_share": ours["infer_gflops"] / our_gemm,
            "pytorch_infer_gemm_share": theirs["infer_gflops"] / torch_gemm,
            "proact_eval_gemm_share": ours["eval_gflops"] / our_gemm,
            # PyTorch's GFLOP/s over our GEMM's rate: both against one machine limit
            "pytorch_train_share_of_proact_gemm": theirs["train_gflops"] / our_gemm,
            "pytorch_infer_share_of_proact_gemm": theirs["infer_gflops"] / our_gemm,
            "proact_peak_rss_mb": ours_rss, "pytorch_peak_rss_mb": peer_rss,
            "rss_below_pytorch": ours_rss < peer_rss,
        })
        r = results[-1]
        print(f"# {model} {shape}: train {r['proact_train_img_s']:.1f} / {r['pytorch_train_img_s']:.1f} img/s, "
              f"infer {r['proact_infer_img_s']:.1f} / {r['pytorch_infer_img_s']:.1f} img/s, "
              f"set {r['proact_eval_img_s']:.1f} img/s, "
              f"RSS {ours_rss:.0f} / {peer_rss:.0f} MB", file=sys.stderr, flush=True)

    load_results = []
    for model, shape in LOAD_ROWS:
        quiet = next((r for r in results if r["model"] == model and r["input"] == shape), None)
        if quiet is None:
            continue
        with Busy():
            ours, theirs, ours_rss, peer_rss, ours_lines, peer_lines = measure(
                options.build, threads, model, shape, batch, quiet["steps"], quiet["infer_batches"],
                quiet["warmup"], torch_env)
        outputs[f"{model} {shape} under load"] = {"proact": ours_lines, "pytorch": peer_lines}
        ours_slowdown = quiet["proact_train_img_s"] / ours["train_images_per_second"]
        peer_slowdown = quiet["pytorch_train_img_s"] / theirs["train_images_per_second"]
        load_ratio = ratio(ours["train_images_per_second"], theirs["train_images_per_second"])
        load_results.append({
            "model": model, "input": shape, "batch": batch, "steps": quiet["steps"], "threads": int(threads),
            "load": "one busy process",
            "proact_train_img_s_quiet": quiet["proact_train_img_s"],
            "pytorch_train_img_s_quiet": quiet["pytorch_train_img_s"],
            "proact_train_img_s": ours["train_images_per_second"],
            "pytorch_train_img_s": theirs["train_images_per_second"],
            "proact_slowdown": ours_slowdown, "pytorch_slowdown": peer_slowdown, "train_ratio": load_ratio,
            "proact_infer_img_s": ours["infer_images_per_second"],
            "pytorch_infer_img_s": theirs["infer_images_per_second"],
            "infer_ratio": ratio(ours["infer_images_per_second"], theirs["infer_images_per_second"]),
            "proact_peak_rss_mb": ours_rss, "pytorch_peak_rss_mb": peer_rss,
            "slowdown_at_most_2x": ours_slowdown <= 2.0, "not_slower_than_pytorch": load_ratio >= 1.0,
        })
        print(f"# {model} {shape} under load: train {ours['train_images_per_second']:.1f} / "
              f"{theirs['train_images_per_second']:.1f} img/s", file=sys.stderr, flush=True)

    settings = (f"batch {batch}, {threads} threads, SGD lr 0.01 momentum 0.9, synthetic seeded data, 10 classes"
                + (" (--quick: a smoke test, not a measurement)" if options.quick else "")
                + f"; load average before the run {load_before[0]:.2f}")
    lines = [f"Machine: {machine}, {os.cpu_count()} CPUs. Our GEMM ({our_kernel}) on 1024^3: {our_gemm:.1f} GFLOP/s; "
             f"torch.mm on 1024^3: {torch_gemm:.1f} GFLOP/s ({threads} threads).",
             f"PyTorch's kernel path: {kernel_path}.",
             f"Settings: {settings}. Ratio = proact / PyTorch (above 1: we are faster). "
             "Share = achieved GFLOP/s (conv/linear multiply-adds x 2; training = 3 x forward) "
             "over that side's own 1024^3 GEMM rate. Inference: one call per batch on both sides; "
             "set inference: the same images through our `layers::evaluate` at that batch size (how "
             "`proact eval` runs a set: batches in parallel, one thread each, cut to stay in cache), "
             "against PyTorch's loop over the batches.", "",
             "| model | input | batch | train img/s (ours / PyTorch) | ratio | inference img/s (ours / PyTorch) | ratio "
             "| set inference img/s (ours / PyTorch) | ratio "
             "| train GEMM share (ours / PyTorch) | inference GEMM share (ours, set / PyTorch) "
             "| peak RSS MB (ours / PyTorch) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['input'].replace(',', 'x')} | {r['batch']} "
            f"| {r['proact_train_img_s']:.1f} / {r['pytorch_train_img_s']:.1f} | {r['train_ratio']:.2f} "
            f"| {r['proact_infer_img_s']:.1f} / {r['pytorch_infer_img_s']:.1f} | {r['infer_ratio']:.2f} "
            f"| {r['proact_eval_img_s']:.1f} / {r['pytorch_infer_img_s']:.1f} | {r['eval_ratio']:.2f} "
            f"| {100 * r['proact_train_gemm_share']:.1f}% / {100 * r['pytorch_train_gemm_share']:.1f}% "
            f"| {100 * r['proact_infer_gemm_share']:.1f}%, {100 * r['proact_eval_gemm_share']:.1f}% / "
            f"{100 * r['pytorch_infer_gemm_share']:.1f}% "
            f"| {r['proact_peak_rss_mb']:.0f} / {r['pytorch_peak_rss_mb']:.0f}"
            f"{'' if r['rss_below_pytorch'] else ' (not below)'} |")
    if load_results:
        lines += ["", "Under load: one busy process (`python3 -c 'while True: pass'`) beside the training run; "
                  "slowdown = quiet img/s (the row above) / loaded img/s; targets: our slowdown at most 2x, "
                  "ratio under load at least 1.", "",
                  "| model | input | train img/s quiet (ours / PyTorch) | under load (ours / PyTorch) "
                  "| slowdown (ours / PyTorch) | ratio under load | targets |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for r in load_results:
            missed = [name for name, ok in (("slowdown > 2x", r["slowdown_at_most_2x"]),
                                            ("slower than PyTorch", r["not_slower_than_pytorch"])) if not ok]
            lines.append(
                f"| {r['model']} | {r['input'].replace(',', 'x')} "
                f"| {r['proact_train_img_s_quiet']:.1f} / {r['pytorch_train_img_s_quiet']:.1f} "
                f"| {r['proact_train_img_s']:.1f} / {r['pytorch_train_img_s']:.1f} "
                f"| {r['proact_slowdown']:.2f}x / {r['pytorch_slowdown']:.2f}x | {r['train_ratio']:.2f} "
                f"| {'met' if not missed else 'missed: ' + ', '.join(missed)} |")
    table = "\n".join(lines)
    print(table)

    os.makedirs(os.path.join(here, "results"), exist_ok=True)
    with open(os.path.join(here, "results", "zoo.md"), "w") as f:
        f.write(table + "\n")
    if options.readme:
        write_readme(options.readme, table)
    with open(os.path.join(here, "results", "zoo.json"), "w") as f:
        json.dump({"machine": machine, "cpus": os.cpu_count(), "threads": int(threads), "batch": batch,
                   "quick": options.quick, "load_average_before": load_before, "load_average_after": os.getloadavg(),
                   "proact_gemm_1024_gflops": our_gemm, "proact_gemm_kernel": our_kernel,
                   "pytorch_gemm_1024_gflops": torch_gemm, "pytorch_kernel_path": kernel_path,
                   "pytorch_info": torch_gemm_lines, "bench_gemm_output": gemm_lines,
                   "rows": results, "load_rows": load_results, "outputs": outputs}, f, indent=2)
    with open(os.path.join(here, "results", "zoo.csv"), "w", newline="") as f:
        keys = list(results[0].keys()) if results else []
        for r in load_results:
            keys += [k for k in r if k not in keys]
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        for r in results + load_results:
            writer.writerow(r)


if __name__ == "__main__":
    main()
