#!/usr/bin/env bash
# Objectives and hard limits as a user meets them: `uhnas backends` costs a reference network
# (energy, latency, area), `search --objectives` with three objectives reports a 3-D front
# with latency and area, `--max-energy-nj` keeps every trained network under the limit and is
# stored with the run, and `resume` refuses objectives or limits that differ from the run's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOUD=(--data tiny --population 4 --children 3 --generations 2 --epochs 1 --batch 32 --mc 2
      --seed 5)
ARGS=("${LOUD[@]}" --quiet)

# backends: the reference network (the demo CNN) beside pJ/MAC, in text and JSON, with the
# numbers `uhnas energy` gives for configs/demo-arch.json
expect 0 "reference network: the demo CNN of configs/demo-arch.json" "$UHNAS" backends
expect 0 "ref ns" "$UHNAS" backends
expect 0 "reference network" "$UHNAS" backends --help
"$UHNAS" backends --json > "$tmp/backends.jsonl" || bad "backends --json"
n=0
for b in $(python3 -c 'import json,sys; print(" ".join(json.loads(l)["name"] for l in open(sys.argv[1])))' "$tmp/backends.jsonl"); do
  e=$("$UHNAS" energy --backend "$b" --arch "$SRC/configs/demo-arch.json" --json 2>/dev/null)
  python3 - "$tmp/backends.jsonl" "$b" "$e" <<'PY' && ok || bad "backends --json reference of $b: $e"
import json, sys
row = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["name"] == sys.argv[2]][0]
ref, e = row["reference"], json.loads(sys.argv[3])
assert "demo CNN" in ref["network"], ref
assert ref["energy_nj"] == e["energy_nj"] > 0, (ref, e)
assert ref["latency_ns"] == e["latency_ns"] >= 0, (ref, e)
assert ref["area_mm2"] == e["footprint"]["area_mm2"] >= 0, (ref, e)
PY
  n=$((n + 1))
done
[[ $n -ge 5 ]] && ok || bad "only $n backends costed"

# usage
out=$("$UHNAS" search --help)
[[ "$out" == *"--objectives LIST"* && "$out" == *"--max-energy-nj X"* && "$out" == *"--max-latency-ns X"* && "$out" == *"--max-area-mm2 X"* ]] && ok || bad "search --help: $out"
expect 2 "two or three objectives" "$UHNAS" search --backend mzi-realistic --objectives error --out "$tmp/x1"
expect 2 "listed twice" "$UHNAS" search --backend mzi-realistic --objectives error,error --out "$tmp/x2"
expect 2 '"speed" is not one of' "$UHNAS" search --backend mzi-realistic --objectives error,speed --out "$tmp/x3"
expect 2 "max-energy-nj" "$UHNAS" search --backend mzi-realistic --max-energy-nj -1 --out "$tmp/x4"
[[ ! -e "$tmp/x1" && ! -e "$tmp/x2" && ! -e "$tmp/x3" ]] && ok || bad "a refused search left a run directory"

# three objectives: the JSON front carries latency and area, the tables have the columns,
# the front is non-dominated in the three objectives
json=$("$UHNAS" search --backend mzi-realistic "${ARGS[@]}" --objectives error,energy,latency \
       --out "$tmp/three" --json 2> "$tmp/three.err")
python3 - "$json" "$tmp/three" <<'PY' && ok || bad "three objectives: $json $(cat "$tmp/three.err")"
import csv, json, sqlite3, sys
o = json.loads(sys.argv[1])
assert o["objectives"] == ["error", "energy", "latency"], o
assert 0 < o["hypervolume"] <= 1 and o["front"], o
for m in o["front"]:
    assert m["energy_nj"] > 0 and m["latency_ns"] >= 0 and m["area_mm2"] >= 0, m
for name in ("candidates.csv", "front.csv"):
    rows = list(csv.DictReader(open(sys.argv[2] + "/" + name)))
    assert rows and "latency_ns" in rows[0] and "area_mm2" in rows[0], name
    assert all(float(r["latency_ns"]) >= 0 for r in rows if r["status"] == "ok"), name
front = list(csv.DictReader(open(sys.argv[2] + "/front.csv")))
assert len(front) == len(o["front"]), (len(front), o)
cfg = json.loads(sqlite3.connect("file:" + sys.argv[2] + "/run.sqlite?mode=ro", uri=True)
                 .execute("select config from run").fetchone()[0])
assert cfg["objectives"] == ["error", "energy", "latency"], cfg
# no front member is dominated by any ok row in (error, energy, latency)
allr = [r for r in csv.DictReader(open(sys.argv[2] + "/candidates.csv")) if r["status"] == "ok"]
key = lambda r: (1 - float(r["noisy_accuracy"]), float(r["energy_nj"]), float(r["latency_ns"]))
for f in front:
    a = key(f)
    assert not any(all(x <= y for x, y in zip(key(r), a)) and key(r) != a for r in allr), f
PY
out=$("$UHNAS" search --backend mzi-realistic "${LOUD[@]}" --objectives error,energy,latency \
      --out "$tmp/three-text" 2>&1)
[[ "$out" == *"objectives error,energy,latency"* && "$out" == *"(error,energy,latency)"* && "$out" == *"latency_ns"* ]] \
  && ok || bad "three objectives, text: $out"

# a hard energy limit: every trained network is under it; stored with the run; resume
# refuses a different limit or objectives, and accepts the same
lim=$("$UHNAS" energy --backend cpu-xeon8380-fp32 --input 1x12x12 --classes 4 --json \
      --arch '{"layers":[{"type":"dense","units":64,"activation":"relu"},{"type":"dense","units":4}]}' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["energy_nj"])')
"$UHNAS" search --backend cpu-xeon8380-fp32 "${ARGS[@]}" --max-energy-nj "$lim" --out "$tmp/lim" \
  > "$tmp/lim.log" 2>&1 && ok || bad "search with a limit: $(cat "$tmp/lim.log")"
python3 - "$tmp/lim" "$lim" <<'PY' && ok || bad "limit not kept"
import csv, json, sqlite3, sys
lim = float(sys.argv[2])
rows = [r for r in csv.DictReader(open(sys.argv[1] + "/candidates.csv")) if r["status"] == "ok"]
assert len(rows) >= 8, rows
assert all(float(r["energy_nj"]) <= lim for r in rows), [r["energy_nj"] for r in rows]
cfg = json.loads(sqlite3.connect("file:" + sys.argv[1] + "/run.sqlite?mode=ro", uri=True)
                 .execute("select config from run").fetchone()[0])
assert cfg["limits"]["max_energy_nj"] == lim and cfg["limits"]["max_latency_ns"] == 0, cfg
PY
expect 2 "differs from the run's" "$UHNAS" resume "$tmp/lim" --max-energy-nj 1e9 --quiet
expect 2 "--objectives error,latency differs from the run's objectives error,energy" \
  "$UHNAS" resume "$tmp/lim" --objectives error,latency --quiet
expect 2 "--max-area-mm2 5 differs from the run's (0: none)" "$UHNAS" resume "$tmp/lim" --max-area-mm2 5 --quiet
expect 0 "" "$UHNAS" resume "$tmp/lim" --max-energy-nj "$lim" --objectives error,energy --quiet

finish
