#!/usr/bin/env bash
# uhnas report / compare / export as a user meets them, and a real browser's look at the
# report: headless Chromium parses the page and the front plot holds one mark per member of
# the front (skipped, with a message, when Chromium is not installed).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 2 --generations 2
      --epochs 1 --batch 32 --mc 2 --quiet)

"$UHNAS" search "${ARGS[@]}" --seed 1 --out "$tmp/a" > /dev/null 2>&1 && ok || bad "search a"
"$UHNAS" search "${ARGS[@]}" --seed 2 --out "$tmp/b" > /dev/null 2>&1 && ok || bad "search b"
"$UHNAS" search "${ARGS[@]}" --seed 3 --strategy random --out "$tmp/c" > /dev/null 2>&1 && ok || bad "search c"
"$UHNAS" search "${ARGS[@]}" --seed 1 --population 5 --out "$tmp/d" > /dev/null 2>&1 && ok || bad "search d"
"$UHNAS" search "${ARGS[@]}" --seed 1 --backend mzi-worst --out "$tmp/w" > /dev/null 2>&1 && ok || bad "search w"

# report
out=$("$UHNAS" report "$tmp/a" 2>&1)
[[ $? -eq 0 && "$out" == "$tmp/a/report.html" && -s "$tmp/a/report.html" ]] && ok || bad "report: $out"
n_front=$(csv_rows "$tmp/a/front.csv")
n_ok=$(python3 -c 'import csv,sys; print(sum(r["status"]=="ok" for r in csv.DictReader(open(sys.argv[1]))))' "$tmp/a/candidates.csv")
got=$(grep -o 'class="pt front"' "$tmp/a/report.html" | wc -l)
# the front plot and the robustness plot both mark the front
[[ $got -eq $((2 * n_front)) ]] && ok || bad "report marks $got front points, front.csv has $n_front"
expect 2 "nothing" "$UHNAS" report "$tmp/nothing"
"$UHNAS" report "$tmp/a" --out "$tmp/elsewhere.html" > /dev/null && [[ -s "$tmp/elsewhere.html" ]] && ok || bad "report --out"

# compare: seeds and strategies at one budget; backends; a different budget is refused
out=$("$UHNAS" compare "$tmp/a" "$tmp/b" "$tmp/c" --out "$tmp/cmp.html" 2>&1)
[[ $? -eq 0 ]] && grep -q 'data-plot="compare-hv"' "$tmp/cmp.html" && ok || bad "compare strategies: $out"
! grep -q "seed: runs of one seed" "$tmp/cmp.html" && ok || bad "compare flagged distinct seeds"
# the same seed twice: the table says its ± is not a spread over seeds
cp -r "$tmp/a" "$tmp/a2"
out=$("$UHNAS" compare "$tmp/a" "$tmp/a2" --out "$tmp/same.html" 2>&1)
[[ $? -eq 0 ]] && grep -q "(2 runs, 1 seed: runs of one seed repeat one search" "$tmp/same.html" \
  && ok || bad "compare of one seed twice: $out"
out=$("$UHNAS" compare "$tmp/a" "$tmp/w" --out "$tmp/fig1.html" 2>&1)
[[ $? -eq 0 ]] && grep -q 'data-plot="compare-front"' "$tmp/fig1.html" && ok || bad "compare backends: $out"
out=$("$UHNAS" compare "$tmp/a" "$tmp/d" --out "$tmp/no.html" 2>&1)
[[ $? -eq 2 && "$out" == *"population 4 vs 5"* && ! -e "$tmp/no.html" ]] && ok || bad "compare refused: $out"
# the statistics as CSV; variants of one strategy told apart by their folders
out=$("$UHNAS" compare "$tmp/a" "$tmp/b" "$tmp/c" --out "$tmp/cmp.html" --csv "$tmp/cmp.csv" \
  --curves "$tmp/curves.csv" 2>&1)
[[ $? -eq 0 && $(csv_rows "$tmp/cmp.csv") -eq 2 && $(head -1 "$tmp/cmp.csv") == strategy,runs,seeds,distinct_networks,p_vs_random,p_vs_nsga2,* ]] \
  && ok || bad "compare --csv: $out $(cat "$tmp/cmp.csv")"
python3 - "$tmp/cmp.csv" "$tmp/curves.csv" "$tmp/a" "$tmp/b" "$tmp/c" <<'PY' && ok || bad "compare's CSV against the runs"
import csv, sqlite3, sys
stats = {r["strategy"]: r for r in csv.DictReader(open(sys.argv[1]))}
curves = list(csv.DictReader(open(sys.argv[2])))
n = sum(1 for _ in sqlite3.connect(sys.argv[3] + "/run.sqlite").execute("select 1 from candidates where status != 'invalid'"))
nsga2 = [c for c in curves if c["strategy"] == "nsga2"]
assert len(nsga2) == n, (len(nsga2), n)           # one point per evaluation
assert nsga2[-1]["runs"] == "2" and stats["nsga2"]["runs"] == "2" and stats["nsga2"]["seeds"] == "2"
assert abs(float(nsga2[-1]["mean_hypervolume"]) - float(stats["nsga2"]["final_hypervolume_mean"])) < 1e-5
assert float(nsga2[-1]["ci95_low"]) <= float(nsga2[-1]["mean_hypervolume"]) <= float(nsga2[-1]["ci95_high"])
assert all(float(a["mean_hypervolume"]) <= float(b["mean_hypervolume"]) + 1e-12 for a, b in zip(nsga2, nsga2[1:]))
p = float(stats["random"]["p_vs_nsga2"])
assert p == float(stats["nsga2"]["p_vs_random"]) and 0 < p <= 1
assert 0 < float(stats["nsga2"]["training_seconds_mean"]) and float(stats["nsga2"]["epochs_trained_mean"]) >= n
# Spearman's rho of clean vs noisy accuracy, by hand, for random's one run (tmp/c)
rows = sqlite3.connect(sys.argv[5] + "/run.sqlite").execute(
    "select accuracy, noisy_accuracy from candidates where status = 'ok'").fetchall()
def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i]); r = [0.0] * len(v); i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]: j += 1
        for k in range(i, j + 1): r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r
x, y = ranks([a for a, _ in rows]), ranks([b for _, b in rows])
mx, my = sum(x) / len(x), sum(y) / len(y)
rho = sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y)) ** 0.5
got = float(stats["random"]["clean_noisy_spearman_mean"])
assert abs(got - rho) < 1e-5, (got, rho)
assert float(stats["random"]["clean_noisy_spearman_ci95_low"]) == float(stats["random"]["clean_noisy_spearman_ci95_high"])
# the proposals' energy (every child after the first population, refused ones included): its
# median and the decades between its 10th and 90th percentiles, linearly interpolated, by hand
import math
e = sorted(math.log10(v) for (v,) in sqlite3.connect(sys.argv[5] + "/run.sqlite").execute(
    "select energy_nj from candidates where generation > 0 and energy_nj > 0"))
def quantile(q):
    at = q * (len(e) - 1); i = int(at)
    return e[i] + (at - i) * (e[i + 1] - e[i]) if i + 1 < len(e) else e[-1]
assert len(e) >= 4 and quantile(0.9) > quantile(0.1), e
assert abs(float(stats["random"]["proposal_energy_p10_p90_decades_mean"]) - (quantile(0.9) - quantile(0.1))) < 1e-5
assert abs(float(stats["random"]["proposal_energy_median_log10_nj_mean"]) - quantile(0.5)) < 1e-5
PY
# the robustness ablation: a search on clean accuracy beside its twin on the noisy objective
"$UHNAS" search "${ARGS[@]}" --seed 1 --objective clean --out "$tmp/ac" > /dev/null 2>&1 && ok || bad "search ac"
"$UHNAS" compare "$tmp/a" "$tmp/b" "$tmp/ac" --out "$tmp/abl.html" --csv "$tmp/abl.csv" > /dev/null 2>&1 \
  && grep -q "Searching on clean accuracy" "$tmp/abl.html" && ok || bad "compare of both objectives"
python3 - "$tmp/abl.csv" "$tmp/a" "$tmp/ac" <<'PY' && ok || bad "the ablation's front missed, by hand"
import csv, sqlite3, sys
stats = {r["strategy"]: r for r in csv.DictReader(open(sys.argv[1]))}
clean = stats["nsga2 (clean objective)"]
assert clean["objective"] == "clean" and clean["objective_pairs"] == "1", clean
assert stats["nsga2"]["objective_pairs"] == "0" and stats["nsga2"]["runs"] == "2"
def front(run, column):  # the 2-D front of ok rows above chance (tiny: 4 classes)
    rows = sqlite3.connect(run + "/run.sqlite").execute(
        f"select {column}, noisy_accuracy, energy_nj from candidates where status = 'ok' and {column} > 0.25").fetchall()
    return [r for r in rows if not any(o[0] >= r[0] and o[2] <= r[2] and (o[0], o[2]) != (r[0], r[2]) for o in rows)]
twin, handed = front(sys.argv[2], "noisy_accuracy"), front(sys.argv[3], "accuracy")
missed = sum(not any(h[1] >= t[1] and h[2] <= t[2] for h in handed) for t in twin) / len(twin)
assert abs(float(clean["noisy_front_missed_mean"]) - missed) < 1e-6, (clean["noisy_front_missed_mean"], missed)
PY
mkdir -p "$tmp/variants/x" "$tmp/variants/y"
cp -r "$tmp/a" "$tmp/variants/x/s1" && cp -r "$tmp/b" "$tmp/variants/y/s2"
"$UHNAS" compare "$tmp/variants/x/s1" "$tmp/variants/y/s2/" --group-by-parent --out "$tmp/v.html" \
  --csv "$tmp/v.csv" > /dev/null 2>&1 && cut -d, -f1 "$tmp/v.csv" | tr '\n' ' ' | grep -qx "strategy x y " \
  && ok || bad "compare --group-by-parent: $(cat "$tmp/v.csv")"
expect 2 "for strategies on one backend" "$UHNAS" compare "$tmp/a" "$tmp/w" --csv "$tmp/no.csv"
[[ ! -e "$tmp/no.csv" ]] && ok || bad "a CSV written for backends"

# export a member of the front, with its stored weights
id=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["id"])' "$tmp/a/front.csv")
out=$("$UHNAS" export --run "$tmp/a" --candidate "$id" --format pytorch --out "$tmp/net.py" 2>&1)
[[ $? -eq 0 && -s "$tmp/net.py" && -s "$tmp/net.py.uhw" ]] && grep -q "class UhnasNet" "$tmp/net.py" && ok || bad "export pytorch: $out"
# ONNX of the same candidate (its checker and logits: test_export); a binary file needs --out
out=$("$UHNAS" export --run "$tmp/a" --candidate "$id" --format onnx --out "$tmp/net.onnx" 2>&1)
[[ $? -eq 0 && "$out" == "$tmp/net.onnx" && $(head -c 2 "$tmp/net.onnx" | od -An -tx1 | tr -d ' ') == 0807 ]] \
  && ok || bad "export onnx: $out"
expect 2 "give --out FILE" "$UHNAS" export --run "$tmp/a" --candidate "$id" --format onnx
# the module finds its weights beside it, wherever Python runs, and says how inputs are scaled
if python3 -c 'import torch' 2> /dev/null; then
  mkdir "$tmp/elsewhere" && mv "$tmp/net.py" "$tmp/net.py.uhw" "$tmp/elsewhere/"
  (cd / && python3 -c 'import importlib.util, sys
spec = importlib.util.spec_from_file_location("net", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
x = m.preprocess(__import__("torch").full((2, 28, 28), 255, dtype=__import__("torch").uint8))
assert float(x.max()) == 1.0 and tuple(x.shape) == (2, 1, 28, 28), x.shape
print(tuple(m.build()(x).shape))' "$tmp/elsewhere/net.py") > "$tmp/py.out" 2>&1 \
    && [[ "$(cat "$tmp/py.out")" == "(2, 10)" ]] && ok || bad "the exported module from /: $(cat "$tmp/py.out")"
  mv "$tmp/elsewhere/net.py" "$tmp/elsewhere/net.py.uhw" "$tmp/"
else
  grep -q 'os.path.dirname(os.path.abspath(__file__)), "net.py.uhw")' "$tmp/net.py" \
    && grep -q "/ 255" "$tmp/net.py" && ok || bad "exported module: weights path or scaling"
fi
params=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["params"])' "$tmp/a/front.csv")
"$UHNAS" export --run "$tmp/a" --candidate "$id" --format json | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["resolved"]["params"] == int(sys.argv[1]) == len(o["weights"] if "weights" in o else o["resolved"]["weights"]), o["resolved"]["params"]
' "$params" && ok || bad "export json"
out=$("$UHNAS" export --arch "$SRC/configs/demo-arch.json" --format csv 2>&1)
[[ $(printf '%s\n' "$out" | wc -l) -eq 5 && "$out" == *"conv2d"* ]] && ok || bad "export csv: $out"
expect 2 "no candidate" "$UHNAS" export --run "$tmp/a" --candidate 999999
expect 2 "weights for a network" "$UHNAS" export --arch '{"layers":[{"type":"dense","units":10}]}' --weights "$tmp/net.py.uhw"

# a real browser
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "SKIP: headless Chromium check (Debian package chromium not installed)"
else
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$tmp/a/report.html" > "$tmp/dom.html" 2>/dev/null
  python3 - "$n_front" "$n_ok" "$tmp/dom.html" <<'PY' && ok || bad "Chromium's DOM of the report"
import sys
from html.parser import HTMLParser
n_front, n_ok = int(sys.argv[1]), int(sys.argv[2])
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.plot = None; self.marks = {}; self.rows = []; self.code = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg": self.plot = a.get("data-plot")
        cls = (a.get("class") or "").split()
        if self.plot and "pt" in cls:
            key = (self.plot, "front" if "front" in cls else "other")
            self.marks[key] = self.marks.get(key, 0) + 1
        # the deployment view: per row its diagram, its energy bar and its export commands
        if tag == "tr": self.rows.append({"arch": 0, "bar": 0, "commands": []})
        if self.rows and tag == "svg" and "arch" in cls: self.rows[-1]["arch"] += 1
        if self.rows and tag == "div" and "bar" in cls: self.rows[-1]["bar"] += 1
        if tag == "code": self.code = ""
    def handle_data(self, data):
        if self.code is not None: self.code += data
    def handle_endtag(self, tag):
        if tag == "code" and self.rows: self.rows[-1]["commands"].append(self.code)
        if tag == "code": self.code = None
p = P(); p.feed(open(sys.argv[3]).read())
assert p.marks.get(("front", "front"), 0) == n_front, p.marks
assert p.marks.get(("front", "front"), 0) + p.marks.get(("front", "other"), 0) == n_ok, p.marks
assert p.marks.get(("hypervolume", "other"), 0) == 3, p.marks
deploy = [r for r in p.rows if r["arch"]]
assert len(deploy) == n_front, (len(deploy), n_front)
for r in deploy:
    assert r["bar"] == 1 and len(r["commands"]) == 2, r
    assert "--format pytorch" in r["commands"][0] or "--out net-" in r["commands"][0], r
    assert "--format mzi-phases --out chip-" in r["commands"][1], r
PY
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --screenshot="$tmp/report.png" \
    --window-size=1400,4000 "file://$tmp/a/report.html" > /dev/null 2>&1
  [[ $(stat -c %s "$tmp/report.png" 2>/dev/null || echo 0) -gt 20000 ]] && ok || bad "Chromium did not render the report"
  [[ -n "${UHNAS_SCREENSHOTS:-}" ]] && cp "$tmp/report.png" "$UHNAS_SCREENSHOTS/"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --screenshot="$tmp/shot.png" \
    --window-size=1400,1800 "file://$tmp/fig1.html" > /dev/null 2>&1
  [[ $(stat -c %s "$tmp/shot.png" 2>/dev/null || echo 0) -gt 20000 ]] && ok || bad "Chromium did not render the comparison"
fi

# ---- --watch follows a running search: a page that reloads itself while it runs, a last one
# without the reload once it ends (holding every candidate), then it stops by itself ----------
"$UHNAS" search --backend cpu-xeon8380-fp32 --data tiny --population 6 --children 3 \
  --generations 120 --epochs 3 --seed 5 --jobs 1 --quiet --out "$tmp/live" > /dev/null 2>&1 &
spid=$!; pids+=("$spid")
wait_rows "$tmp/live" 1
"$UHNAS" report "$tmp/live" --watch --every 1 > "$tmp/watch.out" 2>&1 &
wpid=$!; pids+=("$wpid")
for _ in $(seq 1 200); do grep -qs 'http-equiv="refresh"' "$tmp/live/report.html" && break; sleep 0.05; done
grep -qs 'http-equiv="refresh" content="1"' "$tmp/live/report.html" && kill -0 "$spid" 2> /dev/null \
  && ok || bad "no reloading report while the search ran"
wait "$spid" && ok || bad "the watched search failed"
for _ in $(seq 1 100); do kill -0 "$wpid" 2> /dev/null || break; sleep 0.1; done
kill -0 "$wpid" 2> /dev/null && bad "--watch went on after the run ended" || ok
wait "$wpid" && [[ $(cat "$tmp/watch.out") == "$tmp/live/report.html" ]] && ok \
  || bad "--watch: $(cat "$tmp/watch.out")"
! grep -q 'http-equiv' "$tmp/live/report.html" && ok || bad "the last report still reloads"
grep -q "<br>$(rows "$tmp/live") candidates" "$tmp/live/report.html" && ok \
  || bad "the last report lacks candidates ($(rows "$tmp/live") stored)"
# on a run that is not running, --watch writes the report once and stops
expect 0 "$tmp/live/report.html" timeout 20 "$UHNAS" report "$tmp/live" --watch

finish
