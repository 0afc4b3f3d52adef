#!/usr/bin/env bash
# fig1 — the paper's Figure 1: the same NSGA-II search on GPU (B200, FP16), CPU (Xeon 8380,
# FP32) and MZI optical hardware under realistic and worst-case non-idealities, then their
# Pareto fronts on one plot (uhnas compare). Prints each backend's front size and energy
# range.
source "$(dirname "$0")/lib.sh"
backends=(gpu-b200-fp16 cpu-xeon8380-fp32 mzi-realistic mzi-worst)
dirs=()
for b in "${backends[@]}"; do
  echo "  searching on $b" >&2
  run "$OUT/$b" --backend "$b" --strategy nsga2 --seed 1
  dirs+=("$OUT/$b")
done
"$UHNAS" compare "${dirs[@]}" --out "$OUT/fig1.html" >/dev/null
python3 - "${dirs[@]}" <<'PY'
import csv, sys, os
print("%-20s %6s %24s %14s" % ("backend", "front", "energy range (nJ)", "best noisy acc"))
for d in sys.argv[1:]:
    rows = list(csv.DictReader(open(os.path.join(d, "front.csv"))))
    e = [float(r["energy_nj"]) for r in rows]
    a = [float(r["noisy_accuracy"]) for r in rows]
    print("%-20s %6d %11.4g – %-11.4g %14.4f" % (os.path.basename(d), len(rows), min(e), max(e), max(a)))
PY
echo "report: $OUT/fig1.html"
