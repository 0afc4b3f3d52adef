#!/usr/bin/env bash
# threads_loaded — the loaded-machine thread ratio: `uhnas train` (784-128-10, 3 epochs on
# 8,000 images) with its default threads against --threads 1, on the machine as it is and
# with a busy loop holding one core, and the same for threads that spin as they did before
# issue 15 (GOMP_SPINCOUNT=300000, libgomp's own default, and one thread per core): there a
# spinning run was 10-56x slower than one thread. Runs alternate (A B A B ...) so a drift in
# the machine's speed hits both; prints medians of the whole process (wall) and of training
# alone (train_seconds), and their ratios. Figures only: it never fails on speed.
#   bench/threads_loaded.sh [UHNAS] [RUNS]   (default ./build/uhnas, 5 runs)
# The data is fashion-mnist when its files are found, else the built-in tiny set.
set -euo pipefail
UHNAS=${1:-./build/uhnas}
RUNS=${2:-5}
ARCH='{"layers":[{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":10}]}'
DATA=fashion-mnist
if ! "$UHNAS" train --data "$DATA" --arch "$ARCH" --epochs 1 --limit-train 8 --limit-test 8 \
  --threads 1 > /dev/null 2>&1; then
  DATA=tiny # 12x12 images, 4 classes
  ARCH='{"layers":[{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":4}]}'
fi
TRAIN=("$UHNAS" train --data "$DATA" --arch "$ARCH" --epochs 3 --limit-train 8000
       --limit-test 1000 --json)
tmp=$(mktemp -d)
busy=
trap '[[ -n $busy ]] && kill "$busy" 2> /dev/null; rm -rf "$tmp"' EXIT

# run FILE [VAR=VALUE...] -- ARGS...: one timed run, "wall train_seconds" appended to FILE
run() {
  local file=$1; shift
  local envs=(); while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  local t0 t1 json
  t0=$(date +%s.%N)
  json=$(env "${envs[@]}" "${TRAIN[@]}" "$@" 2> /dev/null)
  t1=$(date +%s.%N)
  python3 -c 'import json,sys; print(float(sys.argv[2]) - float(sys.argv[1]), json.loads(sys.argv[3])["train_seconds"])' \
    "$t0" "$t1" "$json" >> "$file"
}

# compare LABEL [VAR=VALUE...] -- ARGS...: LABEL's runs against --threads 1, alternating
compare() {
  local label=$1; shift
  : > "$tmp/a"; : > "$tmp/b"
  run "$tmp/a" "$@"; run "$tmp/b" -- --threads 1 # a warm-up each (page cache), not counted
  : > "$tmp/a"; : > "$tmp/b"
  for ((i = 0; i < RUNS; i++)); do
    run "$tmp/a" "$@"
    run "$tmp/b" -- --threads 1
  done
  python3 - "$label" "$tmp/a" "$tmp/b" << 'PY'
import statistics as st, sys
a = [list(map(float, l.split())) for l in open(sys.argv[2])]
b = [list(map(float, l.split())) for l in open(sys.argv[3])]
med = lambda rows, k: st.median(r[k] for r in rows)
ratio = lambda k: st.median(x[k] / y[k] for x, y in zip(a, b))  # pair by pair
print("  %-38s wall %6.3f s vs %6.3f s: %5.2fx   training %6.3f s vs %6.3f s: %5.2fx"
      % (sys.argv[1], med(a, 0), med(b, 0), ratio(0), med(a, 1), med(b, 1), ratio(1)))
PY
}

cores=$(nproc)
echo "threads_loaded: uhnas train, 784-128-10 on $DATA (8,000 images, 3 epochs), $RUNS runs each;"
echo "medians, and the median of the pairwise ratios against --threads 1 (1.00x: as fast as one thread)"
for load in idle busy; do
  if [[ $load == busy ]]; then
    sh -c 'while :; do :; done' &
    busy=$!
    sleep 1
    echo "with a busy loop holding one of the $cores cores:"
  else
    echo "the machine as it is ($cores cores; load $(cut -d' ' -f1-3 /proc/loadavg)):"
  fi
  compare "default threads" --
  compare "spinning, $cores threads (before)" GOMP_SPINCOUNT=300000 -- --threads "$cores"
done
kill "$busy" 2> /dev/null && wait "$busy" 2> /dev/null || true
busy=
