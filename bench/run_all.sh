#!/usr/bin/env bash
# ./run bench: every benchmark, PyTorch side by side where a peer exists, then one table of every
# ratio with its target (bench/summary.py). Threads: $BENCH_THREADS (2).
# ./run bench --quick: only the zoo comparison as a smoke test of seconds (not a measurement).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
threads=${BENCH_THREADS:-2}
started=$(date +%s)
if [ "${1:-}" = "--quick" ]; then
  echo "== Zoo against PyTorch (--quick smoke test, not a measurement) =="
  bench/compare_zoo.py build "$threads" --quick
  exit 0
fi
echo "== GEMM =="
build/bench_gemm "$threads"
echo
echo "== conv2d forward+backward =="
build/bench_conv
echo
echo "== Direct convolution against im2col + GEMM (forward), direct input gradient against GEMM + col2im =="
build/bench_conv direct
build/bench_conv dx
echo
echo "== LeNet-5 / Fashion-MNIST against PyTorch =="
bench/compare_lenet.py build "$threads" 1
echo
echo "== Fault campaign (LeNet-5 / Fashion-MNIST, BER 1e-6..1e-4, 20 trials each) against PyTorch =="
bench/compare_campaign.py build "$threads"
echo
echo "== A campaign trial against a fault-free pass (LeNet-5, ResNet-20) against PyTorch; FMA peak =="
bench/compare_trial.py build "$threads"
echo
echo "== Vulnerability map: single-bit injections per second (LeNet-5, ResNet-20) against PyTorch =="
bench/compare_vuln.py build "$threads"
echo
echo "== Every zoo model against PyTorch: training, inference, GEMM share, peak RSS, under load =="
bench/compare_zoo.py build "$threads"
echo
echo "== Summary: every ratio above, the issue's targets, met or missed =="
bench/summary.py --since "$started"
