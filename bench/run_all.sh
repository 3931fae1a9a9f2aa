#!/usr/bin/env bash
# ./run bench: every benchmark, PyTorch side by side where a peer exists. Threads: $BENCH_THREADS (2).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
threads=${BENCH_THREADS:-2}
echo "== GEMM =="
build/bench_gemm "$threads"
echo
echo "== conv2d forward+backward =="
build/bench_conv
echo
echo "== LeNet-5 / Fashion-MNIST against PyTorch =="
bench/compare_lenet.py build "$threads" 1
echo
echo "== Fault campaign (LeNet-5 / Fashion-MNIST, BER 1e-6..1e-4, 20 trials each) against PyTorch =="
bench/compare_campaign.py build "$threads"
echo
echo "== Vulnerability map: single-bit injections per second (LeNet-5, ResNet-20; 1,000 images) =="
build/bench_vuln "$threads"
