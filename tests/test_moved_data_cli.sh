#!/usr/bin/env bash
# Data that are missing or moved: search with a wrong --data-dir (or UHNAS_DATA) fails before a
# run directory exists; a run whose data moved fails on resume with the way out, and resume --data-dir
# continues it to the rows of an uninterrupted run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FASHION=/usr/share/datasets/fashion-mnist
[[ -f $FASHION/train-images-idx3-ubyte.gz ]] || skip "no $FASHION (Debian: dataset-fashion-mnist)"
ARGS=(--backend mzi-realistic --data fashion-mnist --limit-train 600 --limit-test 100
      --population 4 --children 2 --generations 2 --epochs 2 --batch 32 --mc 2 --seed 8
      --pruner none --jobs 1 --quiet)

expect 1 "no train-images-idx3-ubyte" "$UHNAS" search "${ARGS[@]}" --data-dir "$tmp/nowhere" \
  --out "$tmp/never"
[[ ! -e "$tmp/never" ]] && ok || bad "a failed search left $tmp/never behind"

# UHNAS_DATA pointing nowhere is a mistake to report, not a directory to pass over
UHNAS_DATA="$tmp/nowhere" expect 1 "UHNAS_DATA=$tmp/nowhere: no such directory" "$UHNAS" search \
  "${ARGS[@]}" --out "$tmp/never"
UHNAS_DATA="$tmp/nowhere" expect 0 "" "$UHNAS" search "${ARGS[@]/fashion-mnist/tiny}" \
  --generations 0 --out "$tmp/tiny"

mkdir "$tmp/data1" && ln -s "$FASHION"/*.gz "$tmp/data1/"
"$UHNAS" search "${ARGS[@]}" --data-dir "$tmp/data1" --out "$tmp/whole" > /dev/null 2>&1 && ok \
  || bad "uninterrupted run"
"$UHNAS" search "${ARGS[@]}" --data-dir "$tmp/data1" --out "$tmp/moved" > /dev/null 2>&1 &
kill_at "$tmp/moved" 3 $!
mv "$tmp/data1" "$tmp/data2"
expect 1 "with --data-dir DIR if they moved" "$UHNAS" resume "$tmp/moved" --quiet
"$UHNAS" resume "$tmp/moved" --data-dir "$tmp/data2" --quiet > /dev/null 2> "$tmp/resume.err" \
  && ok || bad "resume --data-dir: $(cat "$tmp/resume.err")"
same_rows "$tmp/whole" "$tmp/moved" "run resumed from moved data"
finish
