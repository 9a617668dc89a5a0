#!/usr/bin/env bash
# Probe: runs the built `varscope` command against hostile inputs and checks that each
# ends with the expected exit status, in bounded time, with no panic.
#
#   scripts/probe.sh            # uses $VARSCOPE_BIN, else target/{release,debug}/varscope
#                               # (building the debug binary if neither exists)
#
# Inputs: zero and out-of-range sizes, save destinations that are a missing directory,
# a directory, `.`, an unwritable place, a FIFO and a symlink; checkpoints that are a
# FIFO, a directory, a symlink, empty, truncated, and truncated while being read.
# Exit statuses expected (see `varscope --help`): 0 success, 1 error, 2 usage error,
# 3 train below target. A status of 124 means the command hung (killed by timeout);
# 128+N means it died of signal N (135 = SIGBUS).
#
# Checks marked [fmt] depend on the checkpoint layer's handling of special files and
# of files that change while read (FIFO, directory, symlink writes, truncation).
#
# Prints one line per check and closes with `probe: N passed, M failed`; exits non-zero
# if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="${VARSCOPE_BIN:-}"
if [ -z "$bin" ]; then
  for b in "$target/release/varscope" "$target/debug/varscope"; do
    if [ -x "$b" ]; then bin="$b"; break; fi
  done
fi
if [ -z "$bin" ]; then
  echo "probe: building the varscope command"
  cargo build --quiet --bin varscope || { echo "probe: build failed"; exit 1; }
  bin="$target/debug/varscope"
fi
echo "probe: $bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/varscope-probe.XXXXXX")"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME EXPECTED_STATUSES TIMEOUT_SECONDS COMMAND...: runs COMMAND with a time
# limit; passes if its status is one of EXPECTED_STATUSES (space-separated) and neither
# stdout nor stderr says "panicked". Output is kept in $work/out and $work/err.
check() {
  local name="$1" expected="$2" limit="$3"
  shift 3
  timeout -k 5 "$limit" "$@" >"$work/out" 2>"$work/err" </dev/null
  local rc=$?
  local why=""
  case " $expected " in
    *" $rc "*) ;;
    *) why="exit status $rc, expected $expected" ;;
  esac
  [ "$rc" -eq 124 ] && why="hung (killed after ${limit}s)"
  [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && why="killed by signal $((rc - 128))"
  if grep -q "panicked" "$work/out" "$work/err"; then why="${why:+$why; }panicked"; fi
  if [ -z "$why" ]; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name: $why"
    sed 's/^/      | /' "$work/err" | head -5
  fi
}

# expect NAME CONDITION_COMMAND...: an extra condition on the last check's result.
expect() {
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    sed 's/^/      | /' "$work/err" | head -5
  fi
}

no_training() { ! grep -q "^step" "$work/out"; }
err_says() { grep -q -- "$1" "$work/err"; }

V="$bin"
train_small=(train --device /cpu:0 --steps 150 --points 48)

# --- zero and out-of-range sizes ----------------------------------------------------
for kind in scopes init update; do
  check "bench $kind --size 0" 2 60 "$V" bench "$kind" --size 0
  expect "bench $kind --size 0 names the allowed range" err_says "must be 1 to"
done
check "bench init --size 2^40" 2 60 "$V" bench init --size 1099511627776
check "train --points 0" 2 60 "$V" train --points 0
check "train --points 65536 (says the maximum)" 2 60 "$V" train --points 65536
expect "train --points names the maximum 65535" err_says "65535"
check "train --steps 0" 2 60 "$V" train --steps 0
check "train --log-every 0" 2 60 "$V" train --log-every 0

# --- save destinations: refused before training --------------------------------------
check "train --save into a missing directory" 1 60 "$V" "${train_small[@]}" --save "$work/no/such/dir/m.safetensors"
expect "  ... refused before training" no_training
mkdir -p "$work/adir"
check "train --save to a directory" 1 60 "$V" "${train_small[@]}" --save "$work/adir"
expect "  ... refused before training" no_training
check "train --save ." 1 60 "$V" "${train_small[@]}" --save .
expect "  ... refused before training" no_training
check "train --save to an unwritable place" 1 60 "$V" "${train_small[@]}" --save /proc/varscope-probe.safetensors
expect "  ... refused before training" no_training
mkfifo "$work/save.fifo"
check "train --save to a FIFO" 1 60 "$V" "${train_small[@]}" --save "$work/save.fifo"
expect "  ... refused before training" no_training
expect "  ... the FIFO is still a FIFO" test -p "$work/save.fifo"

# --- a good checkpoint, and a symlink as destination ---------------------------------
good="$work/good.safetensors"
check "train --save (a good checkpoint)" "0 3" 300 "$V" "${train_small[@]}" --save "$good"
expect "  ... loss lines reach stdout when piped" grep -q "^step     0  loss" "$work/out"
check "inspect --verify a good checkpoint" 0 60 "$V" inspect --verify "$good"
ln -s "$good" "$work/link.safetensors"
check "inspect through a symlink" 0 60 "$V" inspect "$work/link.safetensors"
ln -s real.safetensors "$work/save-link.safetensors"
check "[fmt] train --save through a symlink" "0 3" 300 "$V" "${train_small[@]}" --save "$work/save-link.safetensors"
expect "[fmt]   ... the symlink is still a symlink" test -L "$work/save-link.safetensors"
expect "[fmt]   ... its target was written" test -s "$work/real.safetensors"

# --- hostile checkpoints ----------------------------------------------------------------
check "inspect a missing file" 1 60 "$V" inspect "$work/missing.safetensors"
: >"$work/empty.safetensors"
check "inspect an empty file" 1 60 "$V" inspect --verify "$work/empty.safetensors"
head -c "$(($(wc -c <"$good") / 2))" "$good" >"$work/half.safetensors"
check "inspect a truncated file" 1 60 "$V" inspect --verify "$work/half.safetensors"
head -c 5 "$good" >"$work/five.safetensors"
check "inspect a 5-byte file" 1 60 "$V" inspect "$work/five.safetensors"
mkfifo "$work/ckpt.fifo"
check "[fmt] inspect a FIFO (refused, no hang)" 1 20 "$V" inspect "$work/ckpt.fifo"
check "[fmt] inspect a directory" 1 60 "$V" inspect "$work/adir"
expect "[fmt]   ... says it is a directory" err_says "directory"

# A 256 MiB checkpoint of one bool tensor (zeros: valid), truncated while
# `inspect --verify` reads it (it checks every byte of a bool tensor). Each try must
# end with status 0 (read before the truncation) or 1 (a clear error), never a signal.
bytes=$((256 << 20))
header="{\"t\":{\"dtype\":\"BOOL\",\"shape\":[$bytes],\"data_offsets\":[0,$bytes]}}"
while [ $((${#header} % 8)) -ne 0 ]; do header="$header "; done
make_big() {
  local n=${#header} i
  : >"$1"
  for i in 0 1 2 3 4 5 6 7; do
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $(((n >> (8 * i)) & 255)))" >>"$1"
  done
  printf '%s' "$header" >>"$1"
  truncate -s $((8 + n + bytes)) "$1"
}
big="$work/big.safetensors"
make_big "$big"
check "inspect --verify a 256 MiB bool checkpoint" 0 120 "$V" inspect --verify "$big"
for delay in 0.02 0.05 0.1 0.2 0.4; do
  make_big "$big"
  (sleep "$delay"; truncate -s 4096 "$big") &
  check "[fmt] inspect --verify while the file is truncated after ${delay}s" "0 1" 120 "$V" inspect --verify "$big"
  wait
done

echo "probe: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
