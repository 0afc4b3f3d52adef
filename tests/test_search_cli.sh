#!/usr/bin/env bash
# uhnas search / resume as a user meets them: a run killed with kill -9 and resumed ends with
# the same candidates as an uninterrupted run, without retraining what was finished.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 3 --generations 10
      --epochs 1 --batch 32 --mc 2 --seed 3 --quiet)

# usage errors
expect 2 "--backend is required" "$UHNAS" search
expect 2 "" "$UHNAS" search --backend mzi-realistic --strategy magic
expect 2 "nothing" "$UHNAS" resume "$tmp/nothing"
out=$("$UHNAS" search --help); [[ "$out" == *"uhnas resume DIR"* ]] && ok || bad "search --help: $out"

expect 2 "jobs" "$UHNAS" search --backend mzi-realistic --jobs -1

# the uninterrupted run, one candidate at a time
"$UHNAS" search "${ARGS[@]}" --jobs 1 --out "$tmp/whole" > "$tmp/whole.log" 2>&1 && ok || bad "search: $(cat "$tmp/whole.log")"
n_whole=$(rows "$tmp/whole")
[[ $n_whole -ge 12 ]] && ok || bad "whole run has $n_whole rows"
n_front=$(csv_rows "$tmp/whole/front.csv" 2>/dev/null || echo 0)
[[ $n_front -ge 1 && $n_front -lt $n_whole ]] && ok || bad "front.csv has $n_front rows"
grep -q "hypervolume" "$tmp/whole.log" && ok || bad "no hypervolume in: $(cat "$tmp/whole.log")"
# resumed aloud: each generation's line has its own time and the run's so far
out=$("$UHNAS" resume "$tmp/whole" 2>&1)
[[ "$out" == *"generation 10/10 done in "*"s: "*"hypervolume"*"s in all)"* ]] && ok \
  || bad "no generation times in: $out"
# ... and ends with the front: ids (what export takes), cheapest first, one-word column names
python3 - "$tmp/whole/run.sqlite" <<PY && ok || bad "front table: $out"
import sqlite3, sys
lines = """$out""".splitlines()
head = next(i for i, l in enumerate(lines) if l.split()[:2] == ["id", "energy_nJ"])
rows = [l.split() for l in lines[head + 1:] if l.strip() and l.split()[0].isdigit()]
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
energy = dict(db.execute("select id, energy_nj from candidates"))
ids = [int(r[0]) for r in rows]
assert ids and [energy[i] for i in ids] == sorted(energy[i] for i in ids), ids
assert all(float(r[1]) == float("%.4g" % energy[int(r[0])]) for r in rows), rows
PY
# every row names the candidates it was made from: none for a sample, the parent of a
# mutation, both of a crossover, each an earlier candidate of the run
python3 - "$tmp/whole/run.sqlite" <<'PY' && ok || bad "parents of the whole run"
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = db.execute("select id, origin, parents from candidates order by id").fetchall()
want = {"sample": (0, 0), "fallback-sample": (0, 0), "mutate": (1, 1), "fallback-mutate": (1, 1),
        "crossover": (1, 2)}  # a crossover of a parent with itself names it once
seen = set()
for i, origin, parents in rows:
    p = json.loads(parents)
    lo, hi = want[origin]
    assert lo <= len(p) <= hi and all(0 < q < i for q in p), (i, origin, p)
    seen.add(origin)
assert {"sample", "mutate", "crossover"} <= seen, seen
PY
# a second search into the same directory is refused, and points at resume
expect 2 "resume" "$UHNAS" search "${ARGS[@]}" --out "$tmp/whole"

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
# resumed two at a time: the same rows and ids as the serial run (34 candidates: a run of
# 13 could finish between two looks at its store)
"$UHNAS" search "${ARGS[@]}" --jobs 3 --out "$tmp/killed" > /dev/null 2>&1 &
kill_at "$tmp/killed" 5 $!
n_killed=$(rows "$tmp/killed")
[[ $n_killed -ge 5 && $n_killed -lt $n_whole ]] && ok || bad "killed run has $n_killed rows (whole $n_whole)"
"$UHNAS" resume "$tmp/killed" --jobs 2 > "$tmp/resume.log" 2>&1 && ok || bad "resume: $(cat "$tmp/resume.log")"
grep -q "($n_killed from the store)\|$n_killed from the store" "$tmp/resume.log" && ok || bad "resume did not reuse $n_killed: $(tail -5 "$tmp/resume.log")"
same_rows "$tmp/whole" "$tmp/killed" "resumed run"

finish
