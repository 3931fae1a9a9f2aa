#!/usr/bin/env bash
# A comparison split into shards run side by side on one machine with GNU parallel, then merged:
# the results.{md,csv,json,svg} and <method>.campaign.json of one unsharded run, byte for byte.
#
#   examples/shard_parallel.sh SHARDS OUT_DIR [proact reproduce flags...]
#   examples/shard_parallel.sh 4 out --model-file model.safetensors --dataset fashion-mnist --no-times
#
# Shard i runs `proact reproduce --shard i/SHARDS --out-dir OUT_DIR/shard-i FLAGS`: it hardens every
# method as one run does and runs trials i, i+SHARDS, ... of each campaign; then
# `proact merge OUT_DIR/shard-* --out-dir OUT_DIR` writes the results. Give --model-file (train once
# with `proact train`) so the shards do not each train the same model. Without --no-times the
# merged hardening times are shard 0's.
# Environment: PROACT (the binary; default `proact` on PATH), JOBS (shards at once; default SHARDS),
# THREADS (--threads per shard; default 1). Needs GNU parallel (Debian: apt-get install parallel).
set -euo pipefail
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 SHARDS OUT_DIR [proact reproduce flags...]" >&2
  exit 2
fi
shards=$1 out=$2
shift 2
proact=${PROACT:-proact}
if ! command -v parallel > /dev/null; then
  echo "$0: GNU parallel is not installed (Debian: apt-get install parallel)" >&2
  exit 3
fi
mkdir -p "$out"
# --quote passes every flag as one word whatever it holds; {} is the shard index. --halt stops the
# other shards as soon as one fails.
parallel --will-cite --quote --halt now,fail=1 --jobs "${JOBS:-$shards}" \
  "$proact" reproduce --shard "{}/$shards" --out-dir "$out/shard-{}" --threads "${THREADS:-1}" "$@" \
  ::: $(seq 0 $((shards - 1)))
dirs=()
for ((i = 0; i < shards; i++)); do dirs+=("$out/shard-$i"); done
"$proact" merge "${dirs[@]}" --out-dir "$out"
