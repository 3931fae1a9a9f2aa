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
# merged hardening times are shard 0's. Every shard hardens every method (the same bits in each);
# HARDEN_ONCE=1 runs shard 0 first on every core and the other shards with its hardened models.
# Environment: PROACT (the binary; default `proact` on PATH), JOBS (shards at once; default SHARDS),
# THREADS (--threads per shard, so not a flag here; default 1), HARDEN_ONCE.
# Needs GNU parallel (Debian: apt-get install parallel).
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
first=0 resume=()
if [ -n "${HARDEN_ONCE:-}" ] && [ "$shards" -gt 1 ]; then
  # Shard 0 alone on every core, then its trained and hardened checkpoints in every other shard's
  # folder, where --resume keeps them (they carry the key of everything they depend on).
  "$proact" reproduce --shard "0/$shards" --out-dir "$out/shard-0" --threads 0 "$@"
  for ((i = 1; i < shards; i++)); do
    mkdir -p "$out/shard-$i"
    (cd "$out/shard-0" && find . -name '*.safetensors' -exec cp --parents {} "../shard-$i/" \;)
  done
  first=1 resume=(--resume)
fi
# --quote passes every flag as one word whatever it holds; {} is the shard index. --halt stops the
# other shards as soon as one fails.
parallel --will-cite --quote --halt now,fail=1 --jobs "${JOBS:-$shards}" \
  "$proact" reproduce --shard "{}/$shards" --out-dir "$out/shard-{}" --threads "${THREADS:-1}" "${resume[@]}" "$@" \
  ::: $(seq "$first" $((shards - 1)))
dirs=()
for ((i = 0; i < shards; i++)); do dirs+=("$out/shard-$i"); done
"$proact" merge "${dirs[@]}" --out-dir "$out"
