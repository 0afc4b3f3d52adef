#!/usr/bin/env bash
# bench_pruner — a small budget with and without the pruner, per seed: total epochs trained
# (the sum of candidates.epochs_trained), final hypervolume and wall time; then the ratios
# asha/none (target: ≤ 1/3 of the epochs at ≥ 0.98 of the hypervolume). Prints, never fails.
#   bench/bench_pruner.sh [UHNAS] [SEEDS]   (default ./build/uhnas, "1 2 3")
set -euo pipefail
UHNAS=${1:-./build/uhnas}
SEEDS=${2:-1 2 3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ARGS=(--backend mzi-realistic --data fashion-mnist --limit-train 2000 --limit-test 500
      --epochs 9 --population 9 --children 3 --generations 6 --jobs 2)
echo "bench_pruner: ${ARGS[*]}"
for seed in $SEEDS; do
    for p in none asha; do
        t0=$(date +%s.%N)
        "$UHNAS" search "${ARGS[@]}" --seed "$seed" --pruner "$p" --out "$tmp/$p-$seed" >/dev/null
        t1=$(date +%s.%N)
        echo "$p $seed $(python3 -c "print($t1 - $t0)")" >> "$tmp/times"
    done
done
python3 - "$tmp" <<'PY'
import sqlite3, statistics, sys
tmp = sys.argv[1]
wall = {(p, s): float(w) for p, s, w in (l.split() for l in open(tmp + "/times"))}
ratios = []
for p, s in sorted(wall):
    if p != "none":
        continue
    row = {}
    for q in ("none", "asha"):
        db = sqlite3.connect(f"{tmp}/{q}-{s}/run.sqlite")
        ep, pruned = db.execute("SELECT sum(epochs_trained), sum(status = 'pruned') "
                                "FROM candidates").fetchone()
        hv = db.execute("SELECT hypervolume FROM generations ORDER BY generation DESC "
                        "LIMIT 1").fetchone()[0]
        row[q] = (ep, hv)
        print(f"seed {s} {q:5}: epochs {ep:4} pruned {pruned:3} hypervolume {hv:.5f} "
              f"wall {wall[(q, s)]:.1f} s")
    ratios.append((row["asha"][0] / row["none"][0], row["asha"][1] / row["none"][1],
                   wall[("asha", s)] / wall[("none", s)]))
for i, what in enumerate(("epochs", "hypervolume", "wall time")):
    v = [r[i] for r in ratios]
    print(f"asha/none {what}: median {statistics.median(v):.3f} (per seed "
          + ", ".join(f"{x:.3f}" for x in v) + ")")
PY
