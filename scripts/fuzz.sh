#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed number of iterations (nightly only;
# not part of .ci/run). Needs `rustup toolchain install nightly` and
# `cargo install cargo-fuzz`.
#
#   scripts/fuzz.sh                 # every target, FUZZ_RUNS iterations each (default 200000)
#   FUZZ_RUNS=1000000 scripts/fuzz.sh checkpoint_reader
#
# Per target T: seeds from fuzz/seeds/T/ (if present), dictionary fuzz/T.dict (if present),
# working corpus fuzz/corpus/T/ (untracked). A crash stops the script with libFuzzer's exit
# status and leaves the input under fuzz/artifacts/T/; copy it into fuzz/regressions/T/ (the
# format crate's tests replay every file there).
set -euo pipefail

runs="${FUZZ_RUNS:-200000}"
max_len="${FUZZ_MAX_LEN:-4096}"
cd "$(dirname "$0")/../fuzz"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus"
    inputs=("$corpus")
    if [ -d "seeds/$t" ]; then inputs+=("seeds/$t"); fi
    args=(-runs="$runs" -max_len="$max_len")
    if [ -f "$t.dict" ]; then args+=(-dict="$t.dict"); fi
    echo "== fuzz target $t: $runs runs"
    cargo +nightly fuzz run -O "$t" "${inputs[@]}" -- "${args[@]}"
done
echo "== all fuzz targets ran $runs iterations without a crash"
