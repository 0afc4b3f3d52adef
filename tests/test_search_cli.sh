#!/usr/bin/env bash
# uhnas search / resume as a user meets them: a run killed with kill -9 and resumed ends with
# the same candidates as an uninterrupted run, without retraining what was finished.
set -uo pipefail
UHNAS=${UHNAS:-./build/uhnas}
SRC=${UHNAS_SRC:-.}
export UHNAS_BACKENDS="$SRC/configs/backends"
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 3 --generations 3
      --epochs 1 --batch 32 --mc 2 --seed 3 --quiet)
rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("select count(*) from candidates").fetchone()[0])' "$1/run.sqlite" 2>/dev/null || echo 0; }
table() { python3 -c '
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(r["id"], r["generation"], r["origin"], r["hash"], r["accuracy"], r["noisy_accuracy"], r["energy_nj"])
' "$1/candidates.csv"; }

# usage errors
out=$("$UHNAS" search 2>&1); [[ $? -eq 2 && "$out" == *"--backend is required"* ]] && ok || bad "no backend: $out"
out=$("$UHNAS" search --backend mzi-realistic --strategy magic 2>&1); [[ $? -eq 2 ]] && ok || bad "bad strategy: $out"
out=$("$UHNAS" resume "$tmp/nothing" 2>&1); [[ $? -eq 2 && "$out" == *"nothing"* ]] && ok || bad "resume missing: $out"
out=$("$UHNAS" search --help); [[ "$out" == *"uhnas resume DIR"* ]] && ok || bad "search --help: $out"

out=$("$UHNAS" search --backend mzi-realistic --jobs -1 2>&1); [[ $? -eq 2 && "$out" == *"jobs"* ]] && ok || bad "bad jobs: $out"

# the uninterrupted run, one candidate at a time
"$UHNAS" search "${ARGS[@]}" --jobs 1 --out "$tmp/whole" > "$tmp/whole.log" 2>&1 && ok || bad "search: $(cat "$tmp/whole.log")"
n_whole=$(rows "$tmp/whole")
[[ $n_whole -ge 12 ]] && ok || bad "whole run has $n_whole rows"
n_front=$(python3 -c 'import csv,sys; print(len(list(csv.DictReader(open(sys.argv[1])))))' "$tmp/whole/front.csv" 2>/dev/null || echo 0)
[[ $n_front -ge 1 && $n_front -lt $n_whole ]] && ok || bad "front.csv has $n_front rows"
grep -q "hypervolume" "$tmp/whole.log" && ok || bad "no hypervolume in: $(cat "$tmp/whole.log")"
# a second search into the same directory is refused, and points at resume
out=$("$UHNAS" search "${ARGS[@]}" --out "$tmp/whole" 2>&1); [[ $? -eq 2 && "$out" == *"resume"* ]] && ok || bad "overwrite: $out"

# --json: stdout is one JSON object with the front (here from a finished run: all reused)
json=$("$UHNAS" resume "$tmp/whole" --json 2> "$tmp/json.err")
python3 - "$json" "$n_whole" "$n_front" <<'PY' && ok || bad "resume --json: $json $(cat "$tmp/json.err")"
import json, sys
o = json.loads(sys.argv[1])
assert o["reused"] == int(sys.argv[2]) and o["trained"] == 0, o
assert len(o["front"]) == int(sys.argv[3]), o
for m in o["front"]:
    assert m["arch"]["layers"] and m["energy_nj"] > 0 and 0 <= m["test_accuracy"] <= 1, m
assert 0 < o["hypervolume"] <= 1, o
PY

# the same run, three candidates at a time, killed with SIGKILL once a few are stored, then
# resumed two at a time: the same rows and ids as the serial run
"$UHNAS" search "${ARGS[@]}" --jobs 3 --out "$tmp/killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [[ $(rows "$tmp/killed") -ge 5 ]] && break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
n_killed=$(rows "$tmp/killed")
[[ $n_killed -ge 5 && $n_killed -lt $n_whole ]] && ok || bad "killed run has $n_killed rows (whole $n_whole)"
"$UHNAS" resume "$tmp/killed" --jobs 2 > "$tmp/resume.log" 2>&1 && ok || bad "resume: $(cat "$tmp/resume.log")"
grep -q "($n_killed from the store)\|$n_killed from the store" "$tmp/resume.log" && ok || bad "resume did not reuse $n_killed: $(tail -5 "$tmp/resume.log")"
if diff <(table "$tmp/whole") <(table "$tmp/killed") > "$tmp/diff"; then ok; else bad "resumed run differs: $(cat "$tmp/diff")"; fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
