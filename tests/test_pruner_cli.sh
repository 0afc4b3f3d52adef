#!/usr/bin/env bash
# search --pruner asha as a user meets it: kill -9 in the middle of the rungs, then resume,
# ends with the rows of an uninterrupted run (statuses and epochs trained included), and the
# rungs it stored are the same; --jobs does not change them either.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# --quiet last: the progress check below leaves it out
ARGS=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 3 --epochs 27
      --batch 32 --mc 2 --seed 3 --pruner asha --quiet)
ROW_COLUMNS+=(status epochs_trained)

"$UHNAS" search "${ARGS[@]}" --jobs 2 --out "$tmp/full" > /dev/null 2> "$tmp/full.err" \
  && ok || bad "uninterrupted run: $(cat "$tmp/full.err")"
[[ $(sql "$tmp/full" "select count(*) from candidates where status = 'pruned'") -gt 0 ]] && ok \
  || bad "the pruner pruned nothing"
# progress names a pruned candidate's rung, with the accuracies it had there
out=$("$UHNAS" search "${ARGS[@]:0:${#ARGS[@]}-1}" --population 3 --generations 0 --epochs 3 \
      --out "$tmp/loud" 2>&1)
[[ "$out" == *"acc "*"pruned after 1 epoch"* ]] && ok || bad "no pruned row in the progress: $out"
"$UHNAS" search "${ARGS[@]}" --jobs 1 --out "$tmp/one" > /dev/null 2> "$tmp/one.err" \
  && ok || bad "run with --jobs 1: $(cat "$tmp/one.err")"
same_rows "$tmp/full" "$tmp/one" "--jobs 1 against --jobs 2"

# killed once the population's first rung is stored and the second has begun to be
"$UHNAS" search "${ARGS[@]}" --jobs 2 --out "$tmp/killed" > /dev/null 2>&1 &
pid=$!
wait_rungs "$tmp/killed" 7
kill -9 "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
n=$(sql "$tmp/killed" "select count(*) from rungs")
[[ $n -ge 7 && $n -lt $(sql "$tmp/full" "select count(*) from rungs") ]] && ok \
  || bad "the kill did not land between the rungs ($n rungs stored)"
"$UHNAS" resume "$tmp/killed" --quiet --jobs 2 > /dev/null 2> "$tmp/resume.err" \
  && ok || bad "resume: $(cat "$tmp/resume.err")"
same_rows "$tmp/full" "$tmp/killed" "killed mid-rung and resumed"
[[ "$(rungs "$tmp/full")" == "$(rungs "$tmp/killed")" ]] && ok || bad "the stored rungs differ"
finish
