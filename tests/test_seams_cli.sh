#!/usr/bin/env bash
# Issue 14's seams as a user meets them: a damaged row is an error, never "not found" (item
# 5), and every operator reports what it did the same way (item 1).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 2 --generations 2
      --epochs 1 --batch 32 --mc 2 --seed 3 --quiet --jobs 2)

# ---- item 5: a damaged test result fails loudly; an absent one is simply not on the front --
"$UHNAS" search "${ARGS[@]}" --out "$tmp/run" > /dev/null 2> "$tmp/run.err" && ok || bad "search: $(cat "$tmp/run.err")"
n_front=$(csv_rows "$tmp/run/front.csv")
[[ $n_front -ge 1 ]] && ok || bad "front.csv has $n_front rows"
"$UHNAS" report "$tmp/run" --out "$tmp/ok.html" > /dev/null 2>&1 && ok || bad "report of a sound run"
cp -r "$tmp/run" "$tmp/damaged"
hash=$(sql "$tmp/damaged" "select hash from test_results limit 1")
sql_write "$tmp/damaged" "update test_results set accuracy = 'not a number' where hash = '$hash'"
out=$("$UHNAS" report "$tmp/damaged" --out "$tmp/bad.html" 2>&1)
[[ $? -ne 0 && "$out" == *"not a number"* ]] && ok || bad "report of a damaged test result: $out"
out=$("$UHNAS" resume "$tmp/damaged" --quiet 2>&1)
[[ $? -ne 0 && "$out" == *"not a number"* ]] && ok || bad "resume over a damaged test result: $out"
# a generation whose stored state is damaged is an error too, a missing one a gap
cp -r "$tmp/run" "$tmp/badgen"
sql_write "$tmp/badgen" "update generations set hypervolume = 'x' where generation = 1"
out=$("$UHNAS" report "$tmp/badgen" --out "$tmp/badgen.html" 2>&1)
[[ $? -ne 0 && "$out" == *"not a number"* ]] && ok || bad "report of a damaged generation: $out"
cp -r "$tmp/run" "$tmp/gap"
sql_write "$tmp/gap" "delete from generations where generation = 1"
"$UHNAS" report "$tmp/gap" --out "$tmp/gap.html" > /dev/null 2>&1 && ok || bad "report of a run with a gap"
# ---- item 4: the report reads the run config with the search's strict reader -------------
# (it used to read it leniently and show "?" or 0 for what it could not read)
cp -r "$tmp/run" "$tmp/badcfg"
sql_write "$tmp/badcfg" "update run set config = replace(config, '\"mc\":'||char(9)||'2', '\"mc\":'||char(9)||'0')"
[[ $(sql "$tmp/badcfg" "select instr(config, '\"mc\":'||char(9)||'0') > 0 from run") == 1 ]] && ok || bad "the config was not damaged"
expect 2 "run config: mc: must be an integer in 1..100000, got 0" "$UHNAS" report "$tmp/badcfg" --out "$tmp/badcfg.html"

# ---- item 1: the built-in model reports like any operator -------------------------------
# a tiny model with a context too short for most children: some fall back to classic ones
# (a call per generation: near-duplicates are not asked again here)
"$UHNAS" search "${ARGS[@]}" --strategy llm --min-distance 0 --llm-context 16 --llm-train-steps 2 --llm-layers 1 \
  --llm-width 16 --llm-heads 2 --out "$tmp/builtin" --json > "$tmp/builtin.json" 2> "$tmp/builtin.err" \
  && ok || bad "built-in run: $(cat "$tmp/builtin.err")"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("llm-builtin", {}).get(sys.argv[2], -1))' "$tmp/builtin.json" "$1"; }
[[ $(field calls) -eq 2 ]] && ok || bad "--json: built-in calls: $(cat "$tmp/builtin.json")"
python3 -c 'import json,sys; sys.exit("llm" in json.load(open(sys.argv[1])))' "$tmp/builtin.json" && ok || bad "--json: a remote model's totals for the built-in one"
fallbacks=$(field fallback)
if [[ $fallbacks -gt 0 ]]; then
  grep -q "operator llm-builtin: 0 of 2 calls failed, $fallbacks children were classic fallbacks" "$tmp/builtin.err" \
    && ok || bad "no warning about $fallbacks built-in fallbacks: $(cat "$tmp/builtin.err")"
else
  [[ ! -s "$tmp/builtin.err" ]] && ok || bad "a warning without fallbacks: $(cat "$tmp/builtin.err")"
fi
"$UHNAS" report "$tmp/builtin" --out "$tmp/builtin.html" > /dev/null 2>&1 && ok || bad "report of the built-in run"
grep -q "<h2>Operator: llm_builtin</h2>" "$tmp/builtin.html" && grep -q "<th>resampled</th>" "$tmp/builtin.html" \
  && ok || bad "the report has no section for the built-in model"
# a classic run has no operator section and no totals
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(any(k.startswith("llm") for k in d))' <("$UHNAS" resume "$tmp/run" --json 2>/dev/null) \
  && ok || bad "--json of a classic run names a model"
! grep -q "<h2>Operator" "$tmp/ok.html" && ok || bad "an operator section in a classic run's report"

finish
