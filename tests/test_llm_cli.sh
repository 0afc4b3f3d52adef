#!/usr/bin/env bash
# uhnas search --strategy llm|llmatic against a scripted OpenAI-compatible server on 127.0.0.1
# (tests/llm_server.py): origins and repair/fallback counts match the script, a replayed run
# gives the same rows, the API key appears nowhere in the run directory, every kind of
# failure ends in fallbacks (never a crash or a hang), and a killed LLM run resumes without
# repeating finished calls.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export UHNAS_PROMPTS="$SRC/configs/prompts"
KEY="sk-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export UHNAS_LLM_API_KEY="$KEY"
unset OPENAI_API_KEY
BASE=(--backend mzi-realistic --data tiny --epochs 1 --batch 32 --mc 2 --seed 5 --quiet)
# the scripted server answers a fixed number of calls: no near-duplicate is asked again here
# (tests/test_search.c tests that)
SMALL=("${BASE[@]}" --llm-model test-model --min-distance 0)

# start_server NAME SCRIPT_JSON [KEY]: sets URL; the request log is $tmp/NAME.log
start_server() {
  local name=$1 script=$2 key=${3-$KEY}
  echo "$script" > "$tmp/$name.script"
  python3 "$SRC/tests/llm_server.py" --script "$tmp/$name.script" --port-file "$tmp/$name.port" \
    --log "$tmp/$name.log" --key "$key" --model test-model &
  pids+=($!)
  for _ in $(seq 1 100); do [[ -s "$tmp/$name.port" ]] && break; sleep 0.05; done
  URL="http://127.0.0.1:$(cat "$tmp/$name.port")/v1"
  touch "$tmp/$name.log"
}
chats() { grep -c '"/v1/chat/completions"' "$tmp/$1.log"; }
# llm_count DIR GENERATION FIELD: a count from the generation's stored operator state
llm_count() { sql "$1" "select json_extract(state, '\$.operator.llm.$3') from generations where generation = $2"; }

# ---- usage -----------------------------------------------------------------------------
expect 2 "--llm-url" "$UHNAS" search --backend mzi-realistic --strategy llmatic
expect 2 "built-in model" "$UHNAS" search --backend mzi-realistic --strategy llm --llm-model m
expect 2 "--strategy llm" "$UHNAS" search --backend mzi-realistic --llm-url http://x/v1 --llm-model m

# ---- the scripted run: repair, fallback, duplicates, invalid, an echoed key --------------
start_server main '{"steps":[
  {"kind":"children","valid":1,"invalid":1,"duplicate":1,"fence":true},
  {"kind":"children","valid":1,"bad_parent":1},
  {"kind":"echo_key","valid":2,"prose":true},
  {"kind":"raw","content":"I am sorry, I cannot help with that."}]}'
"$UHNAS" search "${SMALL[@]}" --population 4 --children 3 --generations 2 --strategy llm \
  --llm-url "$URL" --out "$tmp/run" > "$tmp/run.out" 2> "$tmp/run.err" && ok || bad "llm run: $(cat "$tmp/run.err")"
origins=$(sql "$tmp/run" "select origin, count(*) from candidates where generation > 0 group by origin order by origin" | tr '\n' ' ')
[[ "$origins" == "llm|3 llm-fallback|2 llm-repair|1 " ]] && ok || bad "origins: $origins"
got=$(for f in calls valid repaired fallback duplicate invalid; do llm_count "$tmp/run" 1 $f; done | tr '\n' ' ')
[[ "$got" == "2 1 1 1 1 2 " ]] && ok || bad "generation 1 counts (calls valid repaired fallback duplicate invalid): $got"
got=$(for f in calls valid repaired fallback duplicate invalid; do llm_count "$tmp/run" 2 $f; done | tr '\n' ' ')
[[ "$got" == "2 2 0 1 0 1 " ]] && ok || bad "generation 2 counts: $got"
[[ $(llm_count "$tmp/run" 2 prompt_tokens) -gt 0 ]] && ok || bad "no token usage stored"
grep -q "classic fallbacks" "$tmp/run.err" && ok || bad "no warning summary: $(cat "$tmp/run.err")"
sql "$tmp/run" "select state from generations where generation = 2" | grep -q "REDACTED" && ok || bad "echoed key not redacted in the heuristics"
python3 - "$tmp/main.log" <<'PY' && ok || bad "server saw a bad request: $(cat "$tmp/main.log")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
chat = [r for r in rows if r["path"].endswith("/chat/completions")]
assert len(chat) == 4 and all(r["auth_ok"] and r["model"] == "test-model" for r in chat), chat
assert chat[0]["roles"] == ["system", "user"] and chat[1]["roles"] == ["system", "user", "assistant", "user"], chat
assert chat[0]["asked"] == 3 and chat[1]["asked"] == 2, chat
PY
# the key is nowhere in the run directory (store, transcript, tables)
if grep -rqa -- "$KEY" "$tmp/run"; then bad "the API key leaked into: $(grep -rla -- "$KEY" "$tmp/run")"; else ok; fi
[[ $(wc -l < "$tmp/run/llm.jsonl") -eq 4 ]] && ok || bad "transcript has $(wc -l < "$tmp/run/llm.jsonl") lines"

# ---- replay: the same rows, offline ----------------------------------------------------
before=$(chats main)
"$UHNAS" search "${SMALL[@]}" --population 4 --children 3 --generations 2 --strategy llm \
  --llm-replay "$tmp/run/llm.jsonl" --out "$tmp/replay" > /dev/null 2> "$tmp/replay.err" && ok || bad "replay: $(cat "$tmp/replay.err")"
same_rows "$tmp/run" "$tmp/replay" "replayed run"
[[ $(chats main) -eq $before ]] && ok || bad "replay went to the network"
# replacing a run by a replay of its own transcript keeps the transcript (search --replace
# removes the replaced run's; tests/test_replace_cli.sh)
"$UHNAS" search "${SMALL[@]}" --population 4 --children 3 --generations 2 --strategy llm \
  --llm-replay "$tmp/replay/llm.jsonl" --out "$tmp/replay" --replace > /dev/null 2> "$tmp/replay.err" && ok || bad "replay over itself: $(cat "$tmp/replay.err")"
same_rows "$tmp/run" "$tmp/replay" "run replayed over its own transcript"
[[ $(chats main) -eq $before ]] && ok || bad "replay over itself went to the network"

# ---- a one-letter key: redacted where it stands alone, the transcript readable, replayable --
start_server short '{"steps":[{"kind":"echo_key","valid":2,"prose":true}]}' k
UHNAS_LLM_API_KEY=k "$UHNAS" search "${SMALL[@]}" --population 4 --children 2 --generations 1 \
  --strategy llm --llm-url "$URL" --out "$tmp/short" > /dev/null 2> "$tmp/short.err" \
  && ok || bad "run with the key k: $(cat "$tmp/short.err")"
grep -q '\[REDACTED\]' "$tmp/short/llm.jsonl" && ok || bad "the echoed key k was not redacted"
if grep -q 'networ\[REDACTED\]\|\[REDACTED\]ernel' "$tmp/short/llm.jsonl"; then
  bad "the key k was cut out of words: $(grep -o '.\{20\}\[REDACTED\].\{20\}' "$tmp/short/llm.jsonl" | head -3)"
else ok; fi
grep -q 'kernel' "$tmp/short/llm.jsonl" && ok || bad "the transcript lost its words"
UHNAS_LLM_API_KEY=k "$UHNAS" search "${SMALL[@]}" --population 4 --children 2 --generations 1 \
  --strategy llm --llm-replay "$tmp/short/llm.jsonl" --out "$tmp/short-replay" > /dev/null \
  2> "$tmp/short-replay.err" && ok || bad "replay with the key k: $(cat "$tmp/short-replay.err")"
same_rows "$tmp/short" "$tmp/short-replay" "run with the key k, replayed"

# ---- failures: the run goes on with fallbacks --------------------------------------------
# fail_run NAME SCRIPT EXTRA_ARGS...: a 2+1x2 run whose only generation meets the script
fail_run() {
  local name=$1 script=$2; shift 2
  start_server "$name" "$script"
  timeout 120 "$UHNAS" search "${SMALL[@]}" --population 2 --children 2 --generations 1 \
    --strategy llm --llm-url "$URL" --out "$tmp/$name" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"
}
fail_run r429 '{"steps":[{"kind":"status","status":429,"headers":{"Retry-After":"1"}}]}'
[[ $? -eq 0 && $(llm_count "$tmp/r429" 1 valid) -eq 2 && $(chats r429) -eq 2 ]] && ok || bad "429 then success: $(cat "$tmp/r429.err")"
fail_run r500 '{"steps":[{"kind":"status","status":500},{"kind":"status","status":503},{"kind":"status","status":502}]}' --llm-retries 2
[[ $? -eq 0 && $(llm_count "$tmp/r500" 1 fallback) -eq 2 && $(llm_count "$tmp/r500" 1 failed) -eq 1 ]] && ok || bad "5xx: $(cat "$tmp/r500.err")"
grep -q "HTTP 502" "$tmp/r500.err" && ok || bad "5xx warning: $(cat "$tmp/r500.err")"
start=$(date +%s)
fail_run slow '{"steps":[{"kind":"slow","delay":5}]}' --llm-timeout 1 --llm-retries 0
[[ $? -eq 0 && $(llm_count "$tmp/slow" 1 fallback) -eq 2 && $(( $(date +%s) - start )) -lt 60 ]] && ok || bad "slow reply: $(cat "$tmp/slow.err")"
fail_run huge '{"steps":[{"kind":"huge","bytes":3000000}]}'
[[ $? -eq 0 && $(llm_count "$tmp/huge" 1 fallback) -eq 2 ]] && ok || bad "huge reply: $(cat "$tmp/huge.err")"
grep -q "larger than" "$tmp/huge.err" && ok || bad "size cap not reported: $(cat "$tmp/huge.err")"
fail_run body '{"steps":[{"kind":"body","body":"<html>502 Bad Gateway</html>"}]}'
[[ $? -eq 0 && $(llm_count "$tmp/body" 1 fallback) -eq 2 ]] && ok || bad "non-JSON body: $(cat "$tmp/body.err")"
fail_run empty '{"steps":[{"kind":"raw","content":""}]}'
[[ $? -eq 0 && $(llm_count "$tmp/empty" 1 fallback) -eq 2 ]] && ok || bad "empty reply: $(cat "$tmp/empty.err")"
fail_run trunc '{"steps":[{"kind":"truncated"},{"kind":"truncated"}]}'
[[ $? -eq 0 && $(llm_count "$tmp/trunc" 1 fallback) -eq 2 && $(llm_count "$tmp/trunc" 1 calls) -eq 2 ]] && ok || bad "truncated: $(cat "$tmp/trunc.err")"
fail_run shape '{"steps":[{"kind":"raw","content":"{\"children\":{\"a\":1},\"heuristics\":\"x\"}"},{"kind":"raw","content":"[1,2,3]"}]}'
[[ $? -eq 0 && $(llm_count "$tmp/shape" 1 fallback) -eq 2 ]] && ok || bad "wrong shape: $(cat "$tmp/shape.err")"
fail_run inject '{"steps":[{"kind":"children","inject":true}]}'
[[ $? -eq 0 && $(llm_count "$tmp/inject" 1 valid) -eq 2 && ! -e /tmp/pwned ]] && ok || bad "injection text: $(cat "$tmp/inject.err")"
# a child past the depth caps (the prompt states them) is refused, and the repair says why
fail_run deep '{"steps":[{"kind":"children","valid":1,"deep":1}]}'
[[ $? -eq 0 && $(llm_count "$tmp/deep" 1 invalid) -eq 1 && $(llm_count "$tmp/deep" 1 repaired) -eq 1 ]] && ok || bad "deep child: $(cat "$tmp/deep.err")"
[[ $(sql "$tmp/deep" "select count(*) from candidates where arch glob '*\"units\":9[,}]*'") -eq 0 ]] && ok || bad "a child past the caps was trained"
python3 - "$tmp/deep/llm.jsonl" <<'PY' && ok || bad "depth caps not in the prompts: $(head -c 3000 "$tmp/deep/llm.jsonl")"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
assert len(calls) == 2, len(calls)
assert "At most 3 conv2d and 4 hidden dense layers." in calls[0]["messages"][-1]["content"]
assert "0 conv2d and 5 hidden dense layers: the search takes at most 3 and 4" in calls[1]["messages"][-1]["content"]
PY
fail_run drop '{"steps":[{"kind":"children"},{"kind":"close"}],"default":{"kind":"close"}}' --generations 2 --llm-retries 1
[[ $? -eq 0 && $(llm_count "$tmp/drop" 2 fallback) -eq 2 ]] && ok || bad "dropped connection: $(cat "$tmp/drop.err")"

# ---- start-up: a wrong URL, key or model stops the run before its directory exists --------
out=$(timeout 60 "$UHNAS" search "${SMALL[@]}" --population 2 --children 2 --generations 1 \
  --strategy llm --llm-url http://127.0.0.1:9/v1 --out "$tmp/down" 2>&1)
[[ $? -eq 2 && "$out" == *"cannot reach"* && ! -e "$tmp/down" ]] && ok || bad "server down: $out"
start_server keyed '{"steps":[]}' "another-key"
out=$(timeout 60 "$UHNAS" search "${SMALL[@]}" --population 2 --children 2 --generations 1 \
  --strategy llm --llm-url "$URL" --out "$tmp/keyed" 2>&1)
[[ $? -eq 2 && "$out" == *"refused the API key"* && ! -e "$tmp/keyed" ]] && ok || bad "wrong key: $out"
[[ "$out" != *"$KEY"* ]] && ok || bad "the key was printed"
start_server model '{"steps":[]}'
out=$(timeout 60 "$UHNAS" search "${SMALL[@]}" --population 2 --children 2 --generations 1 \
  --strategy llm --llm-url "$URL" --out "$tmp/model" --llm-model no-such-model 2>&1)
[[ $? -ne 0 && "$out" == *"model not found"* ]] && ok || bad "wrong model: $out"

# ---- system prompt ablation: none sends no system message --------------------------------
fail_run nosys '{"steps":[]}' --system-prompt none
python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if "chat" in l]; assert r and not any(x["has_system"] for x in r)' "$tmp/nosys.log" && ok || bad "--system-prompt none sent a system message"

# ---- kill -9 mid-run, resume: no finished call repeated, the same rows --------------------
LONG=("${SMALL[@]}" --population 4 --children 3 --generations 4 --strategy llm --jobs 1)
start_server whole '{"steps":[]}'
"$UHNAS" search "${LONG[@]}" --llm-url "$URL" --out "$tmp/whole" > /dev/null 2>&1 && ok || bad "whole llm run"
start_server killed '{"steps":[]}'
"$UHNAS" search "${LONG[@]}" --llm-url "$URL" --out "$tmp/killed" > /dev/null 2>&1 &
kill_at "$tmp/killed" 9 $!
"$UHNAS" resume "$tmp/killed" > "$tmp/resume.out" 2>&1 && ok || bad "resume: $(cat "$tmp/resume.out")"
same_rows "$tmp/whole" "$tmp/killed" "resumed llm run"
[[ $(chats killed) -le $(( $(chats whole) + 1 )) ]] && ok || bad "resume repeated calls: $(chats killed) vs $(chats whole)"

# ---- no server: the built-in model; the same seed gives the same run ----------------------
# a smaller model than the default keeps the test quick (and under the sanitizers); resume
# must rebuild it from the stored config
BUILTIN=("${BASE[@]}" --population 4 --children 3 --generations 3 --strategy llm --jobs 1
         --llm-layers 2 --llm-width 64 --llm-train-steps 30)
for k in 1 2; do
  "$UHNAS" search "${BUILTIN[@]}" --out "$tmp/builtin$k" > /dev/null 2> "$tmp/builtin.err" && ok || bad "built-in model: $(cat "$tmp/builtin.err")"
done
# children are the model's (llm-builtin), or classic ones in their place when it found no new
# one (llm-builtin-fallback, or the loop's fallback-mutate for a duplicate of those)
[[ $(sql "$tmp/builtin1" "select count(*) from candidates where origin = 'llm-builtin'") -ge 3 && \
   $(sql "$tmp/builtin1" "select count(*) from candidates where generation > 0 and origin not in ('llm-builtin', 'llm-builtin-fallback', 'fallback-mutate')") -eq 0 ]] && ok || bad "built-in origins: $(sql "$tmp/builtin1" "select origin from candidates")"
same_rows "$tmp/builtin1" "$tmp/builtin2" "second built-in run"
sql "$tmp/builtin1" "select json_extract(state, '\$.operator.llm_builtin.steps') from generations where generation = 2" | grep -q '^30$' && ok || bad "built-in state not stored"
# the model's memory: one record per call (children with their parents) and the checkpoint
[[ $(wc -l < "$tmp/builtin1/lm/calls.jsonl") -eq 3 && $(ls "$tmp/builtin1/lm" | wc -l) -eq 2 && \
   $(stat -c %s "$tmp/builtin1/lm/model-000002.bin") -lt 2000000 ]] && ok || bad "built-in memory: $(ls -l "$tmp/builtin1/lm")"
python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert all(c["parents"] for x in r for c in x["children"])' "$tmp/builtin1/lm/calls.jsonl" && ok || bad "children without parents in calls.jsonl"
# kill -9 mid-run, resume: finished calls answered from calls.jsonl, training continued from
# the checkpoint, the same rows; with the checkpoint deleted or calls.jsonl damaged the model
# retrains from the start and still gives the same rows
# killed_builtin DIR OPTIONS...: a built-in run with OPTIONS in DIR, killed (-9) after 5 of its 13
# candidates (in generation 1: two calls of the model before the end; at 8 one once finished
# between the poll and the kill)
killed_builtin() {
  local dir=$1; shift
  "$UHNAS" search "${BUILTIN[@]}" "$@" --out "$dir" > /dev/null 2>&1 &
  kill_at "$dir" 5 $!
  [[ $(sql "$dir" "select count(*) from candidates") -lt 13 ]] && ok || bad "built-in run $* finished before it was killed"
}
killed_builtin "$tmp/bkill"
cp -r "$tmp/bkill" "$tmp/bnockpt"; rm -f "$tmp/bnockpt"/lm/model-*.bin
cp -r "$tmp/bkill" "$tmp/bdamaged"; printf '{"call":0,"generation":1,"chil' > "$tmp/bdamaged/lm/calls.jsonl"
# records written before the stats counted classic children (--llm-classic), two-parent
# examples (--llm-parents) and copied layers (--llm-language edits) are still replayed
cp -r "$tmp/bkill" "$tmp/bold"; sed -i 's/,"classic":0//; s/,"two_parents":0//; s/,"copied":0//' "$tmp/bold/lm/calls.jsonl"
grep -qE 'classic|two_parents|copied' "$tmp/bold/lm/calls.jsonl" && bad "calls.jsonl of bold still has the counts"
for d in bkill bnockpt bdamaged bold; do
  "$UHNAS" resume "$tmp/$d" > "$tmp/bresume.out" 2>&1 && ok || bad "built-in resume $d: $(cat "$tmp/bresume.out")"
  same_rows "$tmp/builtin1" "$tmp/$d" "resumed built-in run $d"
  # every line a whole record of its call: what could not be read is not left before new ones
  python3 -c 'import json,sys; assert [json.loads(l)["call"] for l in open(sys.argv[1])] == [0, 1, 2]' \
    "$tmp/$d/lm/calls.jsonl" 2> /dev/null && ok || bad "calls.jsonl of $d: $(cut -c1-80 "$tmp/$d/lm/calls.jsonl")"
done
replayed() { sql "$1" "select json_extract(state, '\$.operator.llm_builtin.replayed') from generations where generation = $2"; }
[[ $(replayed "$tmp/bkill" 1) -eq 1 && $(replayed "$tmp/bkill" 3) -eq 0 && $(replayed "$tmp/bnockpt" 1) -eq 0 && \
   $(replayed "$tmp/bold" 1) -eq 1 ]] && ok || bad "replayed calls: $(replayed "$tmp/bkill" 1) $(replayed "$tmp/bkill" 3) $(replayed "$tmp/bnockpt" 1) $(replayed "$tmp/bold" 1)"
# --llm-prior: an earlier run (another backend) is training data too
"$UHNAS" search "${BASE[@]}" --backend mzi-worst --population 4 --children 3 --generations 2 --llm-layers 2 --llm-width 64 \
  --strategy llm --llm-prior "$tmp/builtin1" --out "$tmp/prior" > /dev/null 2> "$tmp/prior.err" && ok || bad "--llm-prior: $(cat "$tmp/prior.err")"
prior_ok=$(sql "$tmp/builtin1" "select count(*) from candidates where status = 'ok'")
[[ $(sql "$tmp/prior" "select json_extract(state, '\$.operator.llm_builtin.examples') from generations where generation = 1") -eq $((prior_ok + 4)) ]] && ok || bad "prior examples: $(sql "$tmp/prior" "select state from generations where generation = 1")"
out=$("$UHNAS" search "${BASE[@]}" --strategy llm --llm-prior "$tmp/none" --out "$tmp/noprior" 2>&1)
[[ $? -eq 2 && "$out" == *"neither a checkpoint (uhnas pretrain) nor a run directory"* && ! -e "$tmp/noprior" ]] && ok || bad "missing prior: $out"
# --llm-targets front: stored with the run (a cheaper run stores no rule: it reads as the
# rule runs had before), other children than cheaper's from the same seed, the same run
# again, and kill -9 then resume gives its rows
"$UHNAS" search "${BUILTIN[@]}" --llm-targets front --out "$tmp/front1" > /dev/null 2> "$tmp/front.err" && ok || bad "--llm-targets front: $(cat "$tmp/front.err")"
[[ $(sql "$tmp/front1" "select json_extract(config, '\$.operator.builtin.targets') from run") == front && \
   $(sql "$tmp/builtin1" "select coalesce(json_extract(config, '\$.operator.builtin.targets'), 'absent') from run") == absent ]] && ok || bad "targets rule not stored"
children() { sql "$1" "select group_concat(hash, ',') from (select hash from candidates where generation > 0 order by id)"; }
[[ $(children "$tmp/front1") != "$(children "$tmp/builtin1")" ]] && ok || bad "front asked for the children cheaper did"
# front asks even children for less energy and odd ones for more, and checks it by exact energy
# before training: more of its children go the way their parity says than of cheaper's (the
# same run but for the rule, which asks every child for less and checks nothing)
python3 - "$tmp/front1" "$tmp/builtin1" <<'EOF' && ok || bad "front children did not go the ways they were asked"
import json, sqlite3, sys
def went_the_way(run):  # share of the model's children cheaper (even) or dearer (odd) than the parent
    db = sqlite3.connect(f"file:{run}/run.sqlite?mode=ro", uri=True)
    by_id = dict(db.execute("select id, energy_nj from candidates"))
    by_arch = dict(db.execute("select arch, energy_nj from candidates"))
    n = went = 0
    for line in open(f"{run}/lm/calls.jsonl"):
        for k, c in enumerate(json.loads(line)["children"]):
            if c["origin"] == "llm-builtin" and c["arch"] in by_arch:
                n, parent = n + 1, by_id[c["parents"][0]]
                went += by_arch[c["arch"]] > parent if k % 2 else by_arch[c["arch"]] < parent
    return went / n
front, cheaper = went_the_way(sys.argv[1]), went_the_way(sys.argv[2])
assert front > cheaper, (front, cheaper)
EOF
# compare's labels of the built-in runs RUN... (sorted, a space after each) are LABELS
labels_are() { # LABELS RUN...
  local want=$1; shift
  "$UHNAS" compare "$@" --out "$tmp/labels.html" --csv "$tmp/labels.csv" > /dev/null 2>&1 &&
    [[ $(cut -d, -f1 "$tmp/labels.csv" | tail -n +2 | sort | tr '\n' ' ') == "$want" ]] && ok || bad "compare's labels: $(cut -c1-200 "$tmp/labels.csv" 2>&1)"
}
# a built-in run with OPTIONS killed (killed_builtin) and resumed gives the rows of the
# uninterrupted run WHOLE
killed_resumes() { # WHOLE KILLED OPTIONS...
  local whole=$1 dir=$2; shift 2
  killed_builtin "$dir" "$@"
  "$UHNAS" resume "$dir" > "$dir.out" 2>&1 && ok || bad "$* resume: $(cat "$dir.out")"
  same_rows "$whole" "$dir" "resumed $* run"
}
# each "OPTIONS|REASON" is refused (exit 2) with REASON before a run directory is made
refused() {
  local case args want out
  for case in "$@"; do
    args=${case%%|*} want=${case#*|}
    # shellcheck disable=SC2086 # the options are words
    out=$("$UHNAS" search "${BASE[@]}" $args --out "$tmp/refused" 2>&1)
    [[ $? -eq 2 && "$out" == *"$want"* && ! -e "$tmp/refused" ]] && ok || bad "$args: $out"
    rm -rf "$tmp/refused"
  done
}
# compare tells the rules apart (the built-in model's runs are labelled with a rule not the first)
labels_are "llm llm/front " "$tmp/builtin1" "$tmp/front1"
killed_resumes "$tmp/front1" "$tmp/fkill" --llm-targets front
# refused before a run directory is made: an unknown rule, a checkpoint (it learnt the
# absolute deciles), a remote model
refused "--strategy llm --llm-targets sideways|--llm-targets" \
        "--strategy llm --llm-targets front --llm-prior shipped|--llm-targets" \
        "--strategy llm --llm-targets front --llm-url http://127.0.0.1:1/v1 --llm-model m|--llm-targets"

# --llm-classic SHARE: that share of each call's children are nsga2's classic ones (of 3
# children a call, share 0.5 makes child 1 classic: 3 of 9), stored with the run (a run
# without stores none), labelled by compare, and kill -9 then resume gives the rows
"$UHNAS" search "${BUILTIN[@]}" --llm-classic 0.5 --out "$tmp/classic1" > /dev/null 2> "$tmp/classic.err" && ok || bad "--llm-classic 0.5: $(cat "$tmp/classic.err")"
[[ $(sql "$tmp/classic1" "select json_extract(config, '\$.operator.builtin.classic') from run") == 0.5 && \
   $(sql "$tmp/builtin1" "select coalesce(json_extract(config, '\$.operator.builtin.classic'), 'absent') from run") == absent ]] && ok || bad "classic share not stored"
python3 - "$tmp/classic1/lm/calls.jsonl" <<'EOF' && ok || bad "classic children: $(cut -c1-300 "$tmp/classic1/lm/calls.jsonl")"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
origins = [[c["origin"] for c in r["children"]] for r in calls]
assert len(calls) == 3 and all(len(o) == 3 for o in origins), origins
assert all(o[1] in ("crossover", "mutate") for o in origins), origins
assert all(x.startswith("llm-builtin") for o in origins for x in o[::2]), origins
assert sum(r["stats"]["classic"] for r in calls) == 3, [r["stats"] for r in calls]
EOF
labels_are "llm llm/classic0.5 " "$tmp/builtin1" "$tmp/classic1"
# every setting that changes what the built-in model proposes is in the label, so compare never
# merges runs that differ in one: no hardware tokens, a prior, the targets rule, the share,
# two parents, edits
"$UHNAS" search "${BUILTIN[@]}" --system-prompt none --llm-prior "$tmp/builtin1" --llm-targets front \
  --llm-classic 0.4 --llm-parents 2 --llm-language edits --out "$tmp/allset" > /dev/null 2> "$tmp/allset.err" && ok || bad "every built-in setting: $(cat "$tmp/allset.err")"
labels_are "llm llm/classic0.5 llm/nohardware/prior/front/classic0.4/parents2/edits " "$tmp/builtin1" "$tmp/classic1" "$tmp/allset"
# a share is labelled by the fewest digits that read back as it: shares apart only in the 8th
# digit are not merged
"$UHNAS" search "${BUILTIN[@]}" --llm-classic 0.50000001 --out "$tmp/classic8" > /dev/null 2>&1 && ok || bad "--llm-classic 0.50000001"
labels_are "llm/classic0.5 llm/classic0.50000001 " "$tmp/classic1" "$tmp/classic8"
killed_resumes "$tmp/classic1" "$tmp/ckill" --llm-classic 0.5
# refused before a run directory is made, each with its reason: outside [0, 1], a remote
# model, another strategy, a share of which no child of a generation would be
refused "--strategy llm --llm-classic 1.5|--llm-classic: expected a number in 0..1" \
        "--strategy llm --llm-classic 0.5 --llm-url http://127.0.0.1:1/v1 --llm-model m|--llm-parents, --llm-language and the built-in" \
        "--strategy nsga2 --llm-classic 0.5|need --strategy llm" \
        "--strategy llm --llm-classic 0.2 --children 4|none of a generation's 4 children would be classic"

# --llm-parents 2: the model writes child i of a call from parents i and i + 1 (when they
# differ), so its children name both; its examples then put both parents of such a child in
# context (counted: none in a one-parent run). Stored with the run (a one-parent run stores
# none), labelled by compare, and kill -9 then resume gives the rows
"$UHNAS" search "${BUILTIN[@]}" --llm-parents 2 --out "$tmp/two1" > /dev/null 2> "$tmp/two.err" && ok || bad "--llm-parents 2: $(cat "$tmp/two.err")"
[[ $(sql "$tmp/two1" "select json_extract(config, '\$.operator.builtin.parents') from run") == 2 && \
   $(sql "$tmp/builtin1" "select coalesce(json_extract(config, '\$.operator.builtin.parents'), 'absent') from run") == absent ]] && ok || bad "parents not stored"
python3 - "$tmp/two1/lm/calls.jsonl" "$tmp/builtin1/lm/calls.jsonl" <<'PY' && ok || bad "two parents: $(cut -c1-300 "$tmp/two1/lm/calls.jsonl")"
import json, sys
two, one = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
model = [c for r in two for c in r["children"] if c["origin"] == "llm-builtin"]
assert sum(len(c["parents"]) == 2 for c in model) >= len(model) - 2, model
assert all(len(set(c["parents"])) == len(c["parents"]) for c in model), model
assert two[0]["stats"]["two_parents"] == 0 and two[2]["stats"]["two_parents"] >= 3, [r["stats"] for r in two]
assert all(len(c["parents"]) == 1 for r in one for c in r["children"])
assert all(r["stats"]["two_parents"] == 0 for r in one), [r["stats"] for r in one]
PY
[[ $(children "$tmp/two1") != "$(children "$tmp/builtin1")" ]] && ok || bad "two parents gave one parent's children"
labels_are "llm llm/parents2 " "$tmp/builtin1" "$tmp/two1"
killed_resumes "$tmp/two1" "$tmp/twokill" --llm-parents 2
refused "--strategy llm --llm-parents 3|--llm-parents: expected an integer in 1..2" \
        "--strategy llm --llm-parents 2 --llm-url http://127.0.0.1:1/v1 --llm-model m|--llm-parents, --llm-language and the built-in" \
        "--strategy nsga2 --llm-parents 2|need --strategy llm"

# --llm-language edits: the model writes a child as copies, skips and new layers of its
# parent, so its samples copy layers (counted: none in a run in full) and its children differ
# from a run in full from the same seed. Stored with the run (a run in full stores none),
# labelled by compare, and kill -9 then resume gives the rows
"$UHNAS" search "${BUILTIN[@]}" --llm-language edits --out "$tmp/edits1" > /dev/null 2> "$tmp/edits.err" && ok || bad "--llm-language edits: $(cat "$tmp/edits.err")"
[[ $(sql "$tmp/edits1" "select json_extract(config, '\$.operator.builtin.language') from run") == edits && \
   $(sql "$tmp/builtin1" "select coalesce(json_extract(config, '\$.operator.builtin.language'), 'absent') from run") == absent ]] && ok || bad "language not stored"
python3 - "$tmp/edits1/lm/calls.jsonl" "$tmp/builtin1/lm/calls.jsonl" <<'PY' && ok || bad "copied layers: $(cut -c1-300 "$tmp/edits1/lm/calls.jsonl")"
import json, sys
edits, full = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
assert sum(r["stats"]["copied"] for r in edits) >= 1, [r["stats"] for r in edits]
assert all(r["stats"]["copied"] == 0 for r in full), [r["stats"] for r in full]
PY
[[ $(children "$tmp/edits1") != "$(children "$tmp/builtin1")" ]] && ok || bad "edits gave the children in full"
labels_are "llm llm/edits " "$tmp/builtin1" "$tmp/edits1"
killed_resumes "$tmp/edits1" "$tmp/editskill" --llm-language edits
refused "--strategy llm --llm-language diff|--llm-language: expected one of layers|edits, got 'diff'" \
        "--strategy llm --llm-language edits --llm-prior shipped|the checkpoint writes children in the layers language and the run's model in edits" \
        "--strategy llm --llm-language edits --llm-url http://127.0.0.1:1/v1 --llm-model m|--llm-language and the built-in" \
        "--strategy nsga2 --llm-language edits|need --strategy llm"

# ---- llmatic with the same server and budget ---------------------------------------------
start_server qd '{"steps":[]}'
"$UHNAS" search "${SMALL[@]}" --population 4 --children 3 --generations 2 --strategy llmatic \
  --llm-url "$URL" --out "$tmp/qd" > /dev/null 2> "$tmp/qd.err" && ok || bad "llmatic: $(cat "$tmp/qd.err")"
[[ $(sql "$tmp/qd" "select count(*) from candidates") -eq 10 && $(chats qd) -ge 6 ]] && ok || bad "llmatic rows/calls: $(chats qd)"
sql "$tmp/qd" "select json_extract(state, '\$.strategy.llmatic.network_cells') from generations where generation = 2" | grep -q '^[1-9]' && ok || bad "llmatic archive not stored"

finish
