#!/usr/bin/env bash
# uhnas search --async (the asynchronous steady state, uhnas/search.h): with one worker it is
# the steady-state algorithm by definition (each child made after every earlier result is
# merged) and reproducible; with two its merge order is recorded, and resume replays that
# record: from any point the interrupted run could have stopped at, the resumed run re-makes
# the same children under the same ids; kill -9 then resume trains no stored candidate again
# and completes the budget. Refused where it cannot run, and a damaged record is refused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 3 --generations 8
      --epochs 1 --batch 32 --mc 2 --seed 11 --async --pruner none --quiet)
BUDGET=28
# records DIR: each generation row's event and merged ids, a row a line
records() { sql "$1" "select generation, json_extract(state, '\$.event'), json_extract(state, '\$.merged') from generations order by generation"; }

# ---- one worker: the definition, and the same run twice --------------------------------
"$UHNAS" search "${ARGS[@]}" --jobs 1 --out "$tmp/serial" > /dev/null 2>&1 && ok || bad "serial async run"
"$UHNAS" search "${ARGS[@]}" --jobs 1 --out "$tmp/serial2" > /dev/null 2>&1 && ok || bad "second serial async run"
same_rows "$tmp/serial" "$tmp/serial2" "a serial asynchronous run repeated"
python3 - "$tmp/serial/run.sqlite" 4 $BUDGET <<'PY' && ok || bad "serial records are not the steady state's"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); pop, budget = int(sys.argv[2]), int(sys.argv[3])
rec = [(g, json.loads(s)) for g, s in db.execute("select generation, state from generations order by generation")]
# batch 0: the population's samples; batch 1 after all of them; then one child per batch, each
# decided after the child before it was merged; the last record merges the last child
assert rec[0][1]["event"] == "decide" and rec[0][1]["merged"] == [], rec[0]
assert rec[1][1]["merged"] == list(range(1, pop + 1)), rec[1]
for g, s in rec[2:-1]:
    assert s["event"] == "decide" and s["merged"] == [pop + g - 1], (g, s)
assert rec[-1][1]["event"] == "end" and rec[-1][1]["merged"] == [budget], rec[-1]
assert len(rec) == budget - pop + 2, len(rec)
gens = [g for (g,) in db.execute("select generation from candidates order by id")]
assert gens == [0] * pop + list(range(1, budget - pop + 1)), gens
PY

"$UHNAS" report "$tmp/serial" --out "$tmp/serial.html" > /dev/null 2>&1 && grep -q "asynchronous steady state, 26 decisions recorded" "$tmp/serial.html" && ok || bad "the report does not say the run was asynchronous"

# compare keeps an asynchronous run apart from a generational one of the same strategy
GENERATIONAL=()
for a in "${ARGS[@]}"; do [[ $a == --async ]] || GENERATIONAL+=("$a"); done
"$UHNAS" search "${GENERATIONAL[@]}" --out "$tmp/generational" > /dev/null 2>&1 && ok || bad "generational twin"
"$UHNAS" compare "$tmp/generational" "$tmp/serial" --out "$tmp/cmp.html" --csv "$tmp/cmp.csv" > /dev/null 2>&1 && ok || bad "compare"
[[ "$(cut -d, -f1 "$tmp/cmp.csv" | tail -n +2 | sort | tr '\n' ' ')" == "nsga2 nsga2-async " ]] && ok || bad "compare labels: $(cut -d, -f1 "$tmp/cmp.csv")"

# resuming a finished run trains nothing and reports its figures
out=$("$UHNAS" resume "$tmp/serial" --json 2> /dev/null)
python3 - "$out" "$tmp/serial" <<'PY' && ok || bad "resume of a finished async run: $out"
import json, sqlite3, sys
o = json.loads(sys.argv[1])
db = sqlite3.connect(sys.argv[2] + "/run.sqlite")
hv = db.execute("select hypervolume from generations order by generation desc limit 1").fetchone()[0]
assert o["trained"] == 0 and o["reused"] == 28 and abs(o["hypervolume"] - hv) < 1e-12 and o["hypervolume"] > 0, o
PY

# ---- two workers: the budget, every result merged once --------------------------------
# (keeping every front member's weights, so that a cut of it below is what the run held then)
"$UHNAS" search "${ARGS[@]}" --jobs 2 --keep-weights all --out "$tmp/two" > /dev/null 2>&1 && ok || bad "async run on two threads"
[[ $(rows "$tmp/two") -eq $BUDGET ]] && ok || bad "two threads: $(rows "$tmp/two") rows, want $BUDGET"
python3 - "$tmp/two/run.sqlite" $BUDGET <<'PY' && ok || bad "the merge record does not hold every result once"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
merged = [i for (s,) in db.execute("select state from generations order by generation") for i in json.loads(s)["merged"]]
assert sorted(merged) == list(range(1, int(sys.argv[2]) + 1)), merged
PY

# ---- replay: cut the two-thread run where it could have been killed, resume on one ------
# Keep the records up to batch 12 and the rows they merged, plus the first result merged after
# it (stored, not yet recorded); drop the rest. Resumed with one thread, the run must make
# batches 1-12's children again under the same ids and hashes (a serial run makes others).
cp -r "$tmp/two" "$tmp/cut"
rm -f "$tmp/cut/front.csv" "$tmp/cut/candidates.csv"
python3 - "$tmp/cut/run.sqlite" 12 <<'PY' && ok || bad "could not cut the run"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); cut = int(sys.argv[2])
rec = dict((g, json.loads(s)) for g, s in db.execute("select generation, state from generations"))
keep = {i for g in rec if g <= cut for i in rec[g]["merged"]} | set(rec[cut + 1]["merged"][:1])
db.execute("delete from generations where generation > ?", (cut,))
db.execute("delete from candidates where id not in (%s)" % ",".join(map(str, keep)))
db.execute("delete from weights where hash not in (select hash from candidates)")
db.execute("delete from test_results")
db.commit()
PY
cut_rows=$(rows "$tmp/cut")
"$UHNAS" resume "$tmp/cut" --jobs 1 --json > "$tmp/cut.json" 2> "$tmp/cut.log" && ok || bad "resume of the cut run: $(cat "$tmp/cut.log")"
python3 - "$tmp/two/run.sqlite" "$tmp/cut/run.sqlite" "$tmp/cut.json" "$cut_rows" 16 $BUDGET <<'PY' && ok || bad "the resumed run did not replay the record"
import json, sqlite3, sys
q = "select id, hash, origin, generation, noisy_accuracy from candidates where id <= ? order by id"
first, upto = [sqlite3.connect(p) for p in sys.argv[1:3]], int(sys.argv[5])
a, b = (list(db.execute(q, (upto,))) for db in first)
assert a == b, (a, b)  # batches 0-12 decide ids 1-16: the same children
out = json.load(open(sys.argv[3]))
assert out["reused"] == int(sys.argv[4]) and out["trained"] == int(sys.argv[6]) - int(sys.argv[4]), out
assert first[1].execute("select count(*) from candidates").fetchone()[0] == int(sys.argv[6])
PY

# ---- kill -9 mid-run, resume: nothing stored is trained again, the budget completes -----
SLOW=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 30
      --epochs 3 --batch 32 --mc 2 --seed 5 --async --pruner none --quiet)
"$UHNAS" search "${SLOW[@]}" --jobs 2 --out "$tmp/killed" > /dev/null 2>&1 &
kill_at "$tmp/killed" 8 $!
sql "$tmp/killed" "select id, hash, noisy_accuracy from candidates order by id" > "$tmp/before"
records "$tmp/killed" > "$tmp/records-before"
n=$(wc -l < "$tmp/before")
[[ $n -ge 8 && $n -lt 96 ]] && ok || bad "killed run has $n rows"
"$UHNAS" resume "$tmp/killed" --jobs 2 --json > "$tmp/killed.json" 2> "$tmp/killed.log" && ok || bad "resume after kill -9: $(cat "$tmp/killed.log")"
python3 - "$tmp/killed.json" "$n" 96 <<'PY' && ok || bad "resume trained stored candidates again: $(cat "$tmp/killed.json")"
import json, sys
out, n, budget = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
assert out["reused"] == n and out["trained"] == budget - n, out
PY
[[ $(rows "$tmp/killed") -eq 96 ]] && ok || bad "resumed run has $(rows "$tmp/killed") rows, want 96"
sql "$tmp/killed" "select id, hash, noisy_accuracy from candidates order by id" > "$tmp/after"
[[ -z $(comm -23 <(sort "$tmp/before") <(sort "$tmp/after")) ]] && ok || bad "rows stored before the kill changed"
records "$tmp/killed" > "$tmp/records-after"
head -n "$(wc -l < "$tmp/records-before")" "$tmp/records-after" | diff - "$tmp/records-before" > /dev/null && ok || bad "records written before the kill changed"

# ---- the evaluation cache answers an asynchronous run too ------------------------------
"$UHNAS" search "${ARGS[@]}" --jobs 1 --cache "$tmp/cache.sqlite" --out "$tmp/c1" > /dev/null 2>&1 && ok || bad "async run filling a cache"
out=$("$UHNAS" search "${ARGS[@]}" --jobs 1 --cache "$tmp/cache.sqlite" --out "$tmp/c2" --json 2> /dev/null)
[[ $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cached"])' "$out") -eq $BUDGET ]] && ok || bad "second run not answered from the cache: $out"
same_rows "$tmp/c1" "$tmp/c2" "cached asynchronous run"

# ---- the pruner, asynchronous: each rung's result decided on as it arrives --------------
PRUNED=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 10
        --epochs 9 --batch 32 --mc 2 --seed 4 --async --pruner asha --quiet)
# rung_records DIR: every rung result, a line
rung_rows() { sql "$1" "select hash, rung, epochs, accuracy, noisy_accuracy, train_seconds from rungs order by hash, rung"; }
"$UHNAS" search "${PRUNED[@]}" --jobs 1 --out "$tmp/p1" > /dev/null 2>&1 && ok || bad "serial async run with the pruner"
"$UHNAS" search "${PRUNED[@]}" --jobs 1 --out "$tmp/p2" > /dev/null 2>&1 && ok || bad "second serial async run with the pruner"
same_rows "$tmp/p1" "$tmp/p2" "a serial asynchronous run with the pruner repeated"
# checks DIR BUDGET: the budget's rows, ok or pruned (or failed), every stored rung merged
# once in the record, in rung order per candidate, a pruned row stopped at its last rung
checks() {
  python3 - "$1/run.sqlite" "$2" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = {i: (h, s, e) for i, h, s, e in db.execute("select id, hash, status, epochs_trained from candidates")}
assert len(rows) == int(sys.argv[2]) and {s for _, s, _ in rows.values()} <= {"ok", "pruned", "failed"}, rows
merged = [tuple(e) for (s,) in db.execute("select state from generations order by generation") for e in json.loads(s)["merged"]]
rungs = {(h, g) for h, g in db.execute("select hash, rung from rungs")}
by_hash = {h: i for i, (h, _, _) in rows.items()}
assert sorted(merged) == sorted((by_hash[h], g) for h, g in rungs), "record != stored rungs"
seen = {}
for i, g in merged:
    assert g == seen.get(i, -1) + 1, (i, g)
    seen[i] = g
epochs = dict(((h, g), e) for h, g, e in db.execute("select hash, rung, epochs from rungs"))
for i, (h, s, e) in rows.items():
    if s != "failed":
        assert epochs[(h, seen[i])] == e, (i, s, e)
PY
}
checks "$tmp/p1" 36 && ok || bad "serial pruner run's record"
[[ $(sql "$tmp/p1" "select count(*) from candidates where status = 'pruned'") -gt 0 ]] && ok || bad "the pruner pruned nothing"
# the cache answers each rung
"$UHNAS" search "${PRUNED[@]}" --jobs 1 --cache "$tmp/pcache.sqlite" --out "$tmp/pc1" > /dev/null 2>&1 && ok || bad "pruner run filling a cache"
out=$("$UHNAS" search "${PRUNED[@]}" --jobs 1 --cache "$tmp/pcache.sqlite" --out "$tmp/pc2" --json 2> /dev/null)
[[ $(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o["cached"], o["trained"])' "$out") == "36 0" ]] && ok || bad "pruner run not answered from the cache: $out"
same_rows "$tmp/p1" "$tmp/pc2" "cached asynchronous run with the pruner"
"$UHNAS" search "${PRUNED[@]}" --jobs 2 --out "$tmp/p-two" > /dev/null 2>&1 && ok || bad "two-thread async run with the pruner"
checks "$tmp/p-two" 36 && ok || bad "two-thread pruner run's record"
# kill -9 with the pruner: no stored rung is trained again, the budget completes
PSLOW=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 30
       --epochs 9 --batch 32 --mc 2 --seed 5 --async --pruner asha --quiet)
"$UHNAS" search "${PSLOW[@]}" --jobs 2 --out "$tmp/p-killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1200); do [[ $(sql "$tmp/p-killed" "select count(*) from rungs" 2> /dev/null || echo 0) -ge 12 ]] && break; sleep 0.05; done
kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
rung_rows "$tmp/p-killed" > "$tmp/p-before"
sql "$tmp/p-killed" "select id, hash, status, noisy_accuracy from candidates order by id" > "$tmp/p-rows-before"
nr=$(wc -l < "$tmp/p-before")
[[ $nr -ge 12 && $(rows "$tmp/p-killed") -lt 96 ]] && ok || bad "the kill did not land mid-run ($nr rungs, $(rows "$tmp/p-killed") rows)"
"$UHNAS" resume "$tmp/p-killed" --jobs 2 > "$tmp/p-resume.log" 2>&1 && ok || bad "resume with the pruner: $(tail -3 "$tmp/p-resume.log")"
rung_rows "$tmp/p-killed" > "$tmp/p-after"
sql "$tmp/p-killed" "select id, hash, status, noisy_accuracy from candidates order by id" > "$tmp/p-rows-after"
[[ -z $(comm -23 <(sort "$tmp/p-before") <(sort "$tmp/p-after")) ]] && ok || bad "rungs stored before the kill were trained again"
[[ -z $(comm -23 <(sort "$tmp/p-rows-before") <(sort "$tmp/p-rows-after")) ]] && ok || bad "rows stored before the kill changed"
checks "$tmp/p-killed" 96 && ok || bad "resumed pruner run's record"

# ---- refused where it cannot run; a damaged record ------------------------------------
expect 2 "strategy linas has none" "$UHNAS" search "${ARGS[@]}" --strategy linas --out "$tmp/x1"
[[ ! -e "$tmp/x1" ]] && ok || bad "a refused search left a run directory"
# grep reads the whole help: grep -q may quit at the match while the help is still being
# written, and pipefail then counts the writer's SIGPIPE as a failure
"$UHNAS" search --help | grep -- "--async" > /dev/null && ok || bad "search --help does not name --async"
cp -r "$tmp/serial" "$tmp/damaged"
sql_write "$tmp/damaged" "update generations set state = json_set(state, '\$.merged', json('[99]')) where generation = 3"
sql_write "$tmp/damaged" "delete from generations where generation > 3"
expect 1 "generation 3 merges candidate 99" "$UHNAS" resume "$tmp/damaged" --quiet
cp -r "$tmp/serial" "$tmp/damaged2"
sql_write "$tmp/damaged2" "update generations set state = '{\"population\":[]}' where generation = 2"
expect 1 "generation 2 is not an asynchronous run's record" "$UHNAS" resume "$tmp/damaged2" --quiet

finish
