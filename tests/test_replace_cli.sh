#!/usr/bin/env bash
# `search --replace` starts afresh: a language model's memory of the replaced run (the
# built-in model's calls and checkpoints, a remote model's transcript) goes with it, so the
# new run is never answered from the old one's calls; a transcript it replays from stays.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 2 --epochs 1 --batch 32
      --mc 2 --quiet --jobs 2 --strategy llm)
calls() { wc -l < "$1/lm/calls.jsonl"; }

"$UHNAS" search "${ARGS[@]}" --generations 3 --seed 3 --out "$tmp/run" > /dev/null 2> "$tmp/err" \
  && ok || bad "first run: $(cat "$tmp/err")"
[[ $(calls "$tmp/run") -eq 3 ]] && ok || bad "first run: $(calls "$tmp/run") calls, want 3"
ls "$tmp/run/lm/"model-*.bin > /dev/null 2>&1 && ok || bad "first run kept no checkpoint"
# the same directory, another run: one generation, so one call of its own
"$UHNAS" search "${ARGS[@]}" --generations 1 --seed 4 --out "$tmp/run" --replace > /dev/null \
  2> "$tmp/err" && ok || bad "replacing run: $(cat "$tmp/err")"
[[ $(calls "$tmp/run") -eq 1 ]] && ok || bad "replacing run: $(calls "$tmp/run") calls, want 1"
# ... equal to the same run made in a fresh directory
"$UHNAS" search "${ARGS[@]}" --generations 1 --seed 4 --out "$tmp/fresh" > /dev/null 2> "$tmp/err" \
  && ok || bad "fresh run: $(cat "$tmp/err")"
same_rows "$tmp/run" "$tmp/fresh" "a replacing run and a fresh one"
# a file the user put beside the memory is left, and the directory with it
touch "$tmp/run/lm/notes.txt"
"$UHNAS" search "${ARGS[@]}" --generations 1 --seed 5 --strategy nsga2 --out "$tmp/run" --replace \
  > /dev/null 2> "$tmp/err" && ok || bad "classic replacing run: $(cat "$tmp/err")"
[[ -f "$tmp/run/lm/notes.txt" && ! -e "$tmp/run/lm/calls.jsonl" ]] && ok \
  || bad "classic replacing run: lm/ holds $(ls "$tmp/run/lm")"

# a remote model's transcript goes too, unless the new run replays from it
printf '{"not":"a call"}\n' > "$tmp/run/llm.jsonl"
"$UHNAS" search "${ARGS[@]}" --generations 1 --seed 5 --strategy nsga2 --out "$tmp/run" --replace \
  > /dev/null 2> "$tmp/err" && ok || bad "replacing a remote run: $(cat "$tmp/err")"
[[ ! -e "$tmp/run/llm.jsonl" ]] && ok || bad "the replaced run's transcript is still there"
finish
