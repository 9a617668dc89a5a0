#!/usr/bin/env bash
# Side by side: varscope and burn-wgpu 0.22 on the same adapter, rounds interleaved.
#
# Builds the peer harness bench/peers/burn (its own Cargo workspace and target directory,
# never built by `cargo test`) and the varscope command, then runs ROUNDS rounds of
# (burn, varscope bench init, varscope bench update 1M, varscope bench update 16M) on the
# Vulkan adapter (/gpu:0 where Vulkan sorts first) and prints, per workload, the median
# time of each and varscope's speed relative to burn (burn ms / varscope ms; > 1 means
# varscope is faster), plus varscope's ratio to clear_buffer in the same run.
#
#   scripts/bench_peers.sh            # ROUNDS=3 SIZE=16777216 DEVICE=/gpu:0
#
# A cold build of burn-wgpu takes 15+ minutes on 2 cores; PEER_TARGET keeps it between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-16777216}
DEVICE=${DEVICE:-/gpu:0}
PEER_TARGET=${PEER_TARGET:-${HOME}/.cache/varscope-peer-target}
OUT=${OUT:-$(mktemp -d)}
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d); export XDG_RUNTIME_DIR
fi

cargo build --release --manifest-path bench/peers/burn/Cargo.toml --target-dir "$PEER_TARGET" >&2
cargo build --release --bin varscope >&2
burn="$PEER_TARGET/release/varscope-peer-burn"
vs=target/release/varscope

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  "$burn" 3 "$SIZE" >>"$OUT/burn.txt"
  "$vs" bench init --device "$DEVICE" --size "$SIZE" --json --quiet >>"$OUT/varscope.jsonl"
  "$vs" bench update --device "$DEVICE" --size 1048576 --json --quiet | sed 's/adam_one_large/adam_1m/' >>"$OUT/varscope.jsonl"
  "$vs" bench update --device "$DEVICE" --size 16777216 --json --quiet | sed 's/adam_one_large/adam_16m/' >>"$OUT/varscope.jsonl"
done

python3 - "$OUT" <<'PY'
import json, statistics, sys, collections
out = sys.argv[1]
burn = collections.defaultdict(list)
for line in open(f"{out}/burn.txt"):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    burn[kv["workload"]].append(float(kv["ms"]))
vs = collections.defaultdict(list)
adapter = ""
for line in open(f"{out}/varscope.jsonl"):
    f = json.loads(line)
    adapter = f"{f['adapter']} ({f['backend']})"
    per_var = f["figure"].startswith("new_")
    vs[f["figure"]].append((f["us_per_variable"] if per_var else f["ms"], f["ratio_to_clear"]))
pairs = [
    ("uniform 16M f32", "random_uniform", "uniform", "ms"),
    ("normal 16M f32", "random_normal", "normal", "ms"),
    ("truncated normal 16M f32", "truncated_normal", None, "ms"),
    ("constant 16M", "constant", "constant", "ms"),
    ("zeros 16M", "zeros", "zeros", "ms"),
    ("2,000 new 64x64 normal", "new_2000x64x64_normal", "small_2000x64x64_per_var_us", "us/var"),
    ("Adam step 1M", "adam_1m", "adam_1m", "ms"),
    ("Adam step 16M", "adam_16m", "adam_16m", "ms"),
    ("read back 64 MiB", "read_back", None, "ms"),
    ("read back 64 MiB into a kept buffer", "read_back_into", None, "ms"),
    ("upload 64 MiB", "upload", None, "ms"),
    ("clear_buffer 64 MiB", "clear_buffer", None, "ms"),
]
print(f"adapter: {adapter}; medians of rounds (each round's figures are medians too)")
print("| workload | varscope | burn-wgpu 0.22 | varscope speed vs burn | varscope ratio to clear_buffer |")
print("|---|---|---|---|---|")
for label, v, b, unit in pairs:
    if v not in vs:
        continue
    vm = statistics.median(x for x, _ in vs[v])
    vr = statistics.median(r for _, r in vs[v])
    if b and b in burn:
        bm = statistics.median(burn[b])
        print(f"| {label} | {vm:.2f} {unit} | {bm:.2f} {unit} | {bm / vm:.2f}x | {vr:.3f} |")
    else:
        print(f"| {label} | {vm:.2f} {unit} | | | {vr:.3f} |")
PY
echo "raw figures: $OUT" >&2
