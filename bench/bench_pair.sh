#!/usr/bin/env bash
# bench_pair — one search option at two values (A, then B), per seed on a small budget: total
# epochs trained (the sum of candidates.epochs_trained), final hypervolume, wall time, and the
# hypervolume each had reached at equal wall time (the faster run's: a generation counts once
# its last candidate is stored); then the ratios B/A, medians over the seeds. Prints, never
# fails. Resumable: with OUT=DIR the runs are kept there and a finished one is not run again.
#   bench/bench_pair.sh OPTION A B [UHNAS] [SEEDS]   (default ./build/uhnas, "1 2 3")
#   e.g. bench/bench_pair.sh --pruner none asha;  bench/bench_pair.sh --sampler uniform cost-spread
# The budget: mzi-realistic, nsga2, Fashion-MNIST limited to 2,000 images (500 for the test),
# 9 epochs, 9 + 6 x 3 candidates, 2 jobs; PAIR_ARGS replaces it. B_ARGS are added to B's runs
# only (e.g. B_ARGS="--generations 18": what B's savings buy, compared at equal wall time).
set -euo pipefail
if [[ $# -lt 3 || $1 == -h || $1 == --help ]]; then sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
OPTION=$1 A=$2 B=$3
UHNAS=${4:-./build/uhnas}
SEEDS=${5:-1 2 3}
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; else OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
read -r -a ARGS <<< "${PAIR_ARGS:---backend mzi-realistic --data fashion-mnist --limit-train 2000 --limit-test 500 --epochs 9 --population 9 --children 3 --generations 6 --jobs 2}"
read -r -a MORE <<< "${B_ARGS:-}"
echo "bench_pair: $OPTION $A vs $B ${MORE[*]}; ${ARGS[*]}; seeds $SEEDS; runs in $OUT"
for seed in $SEEDS; do
    for v in "$A" "$B"; do
        grep -q "^$v $seed " "$OUT/times" 2> /dev/null && continue # finished earlier
        extra=(); [[ $v == "$B" ]] && extra=("${MORE[@]}")
        t0=$(date +%s.%N)
        "$UHNAS" search "${ARGS[@]}" "${extra[@]}" --seed "$seed" "$OPTION" "$v" --replace --quiet \
            --out "$OUT/$v-$seed" > /dev/null
        echo "$v $seed $t0 $(date +%s.%N)" >> "$OUT/times"
    done
done
python3 - "$OUT" "$A" "$B" $SEEDS <<'PY'
import datetime, sqlite3, statistics, sys
out, a, b, seeds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
times = {}
for line in open(out + "/times"):
    v, s, t0, t1 = line.split()
    times[(v, s)] = (float(t0), float(t1))

def epoch(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

def run(v, s):
    db = sqlite3.connect(f"file:{out}/{v}-{s}/run.sqlite?mode=ro", uri=True)
    epochs = db.execute("SELECT sum(epochs_trained) FROM candidates").fetchone()[0]
    ends = dict(db.execute("SELECT generation, max(created_at) FROM candidates GROUP BY generation"))
    curve = [(epoch(ends[g]) - times[(v, s)][0], hv) for g, hv in
             db.execute("SELECT generation, hypervolume FROM generations ORDER BY generation")]
    return epochs, curve, times[(v, s)][1] - times[(v, s)][0]

def reached(curve, t):  # the hypervolume of the last generation stored by time t
    return max([hv for when, hv in curve if when <= t] or [0.0])

ratios = []
for s in seeds:
    (ea, ca, wa), (eb, cb, wb) = run(a, s), run(b, s)
    t = min(wa, wb)
    ha, hb = reached(ca, t), reached(cb, t)
    for v, e, c, w, h in ((a, ea, ca, wa, ha), (b, eb, cb, wb, hb)):
        print(f"seed {s} {v:12}: epochs {e:5} hypervolume {c[-1][1]:.5f} wall {w:7.1f} s"
              f"  at {t:.0f} s: {h:.5f}")
    ratios.append((eb / ea, cb[-1][1] / ca[-1][1], wb / wa, hb / ha if ha else float("nan")))
for i, what in enumerate(("epochs", "hypervolume", "wall time", "hypervolume at equal wall time")):
    v = [r[i] for r in ratios]
    print(f"{b}/{a} {what}: median {statistics.median(v):.3f} (per seed "
          + ", ".join(f"{x:.3f}" for x in v) + ")")
PY
