#!/usr/bin/env bash
# robustness — does clean accuracy predict accuracy on the hardware? The same random
# architectures (same seed, same space) are trained noise-aware and measured on mzi-realistic
# and on mzi-worst; prints Spearman's rho between clean and noisy accuracy for each, and the
# architectures whose rank changes most. Writes robustness.html.
source "$(dirname "$0")/lib.sh"
for b in mzi-realistic mzi-worst; do
  echo "  measuring on $b" >&2
  run "$OUT/$b" --backend "$b" --strategy random --seed 1
done
python3 - "$OUT/mzi-realistic" "$OUT/mzi-worst" "$OUT/robustness.html" <<'PY'
import csv, html, sys
def load(d):
    return {r["hash"]: r for r in csv.DictReader(open(d + "/candidates.csv")) if r["status"] == "ok"}
def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(v):  # average ranks over ties
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r
def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a); ma = sum(ra) / n; mb = sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** .5; vb = sum((y - mb) ** 2 for y in rb) ** .5
    return cov / (va * vb) if va and vb else float("nan")
real, worst = load(sys.argv[1]), load(sys.argv[2])
common = [h for h in real if h in worst]
clean = [float(real[h]["accuracy"]) for h in common]
nr = [float(real[h]["noisy_accuracy"]) for h in common]
nw = [float(worst[h]["noisy_accuracy"]) for h in common]
rc, rw = ranks([-x for x in clean]), ranks([-x for x in nw])
moves = sorted(common, key=lambda h: -abs(rc[common.index(h)] - rw[common.index(h)]))[:8]
lines = ["architectures measured on both: %d" % len(common),
         "Spearman rho, clean vs noisy (realistic): %.3f" % spearman(clean, nr),
         "Spearman rho, clean vs noisy (worst case): %.3f" % spearman(clean, nw)]
print("\n".join(lines))
print("largest rank changes, clean -> worst case:")
rows = []
for h in moves:
    i = common.index(h)
    print("  rank %3d -> %3d  clean %.4f  worst %.4f  %s" % (rc[i], rw[i], clean[i], nw[i], real[h]["arch"]))
    rows.append("<tr><td>%d</td><td>%d</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td style='text-align:left'><code>%s</code></td></tr>"
                % (rc[i], rw[i], clean[i], nr[i], nw[i], html.escape(real[h]["arch"])))
with open(sys.argv[3], "w") as f:
    f.write("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>uhnas robustness</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}"
            "table{border-collapse:collapse}</style></head><body><h1>Clean accuracy vs accuracy on the hardware</h1><p>"
            + "<br>".join(html.escape(l) for l in lines) + "</p><h2>Largest rank changes (clean → worst case)</h2>"
            "<table><tr><th>clean rank</th><th>worst-case rank</th><th>clean</th><th>realistic</th><th>worst case</th><th>architecture</th></tr>"
            + "".join(rows) + "</table></body></html>\n")
PY
"$UHNAS" report "$OUT/mzi-worst" >/dev/null
echo "report: $OUT/robustness.html"
