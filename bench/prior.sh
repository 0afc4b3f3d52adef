#!/usr/bin/env bash
# bench/prior.sh — the built-in model's prior, built and measured (issue 16 item 3).
#
#   bench/prior.sh corpus  [--out DIR]   measured candidates on every preset backend (random
#                                        and nsga2 runs, the strategy bench's evaluation
#                                        settings, one shared cache), then the corpus and the
#                                        checkpoint: DIR/corpus.gz and DIR/prior.ckpt
#   bench/prior.sh corpus-edits [--out DIR]
#                                        the same runs (shared with `corpus` in one DIR),
#                                        in --llm-language edits: each nsga2 child is written
#                                        as edits of the parent its row names (store schema
#                                        4), so the corpus holds the classic operators'
#                                        parent -> child pairs: DIR/corpus-edits.gz and
#                                        DIR/prior-edits.ckpt. Runs stored before schema 4
#                                        name no parents: make them again with this build
#   bench/prior.sh measure [--out DIR] [--seeds N] [--backend FILE]
#                                        on a backend held out of the corpus (default
#                                        docs/examples/mzi-mems.json): llm with the prior
#                                        against llm without, N seeds each (default 5), then
#                                        `uhnas compare` (Mann-Whitney U, bootstrap intervals)
#
# Resumable: finished runs are skipped, interrupted ones resumed. The checkpoint is a function
# of the corpus: `uhnas pretrain --corpus DIR/corpus.gz --steps 2000 --out FILE` rebuilds it
# byte for byte on the same CPU and BLAS build. configs/lm/corpus.gz and configs/lm/prior.ckpt
# (the default prior of `search --strategy llm`) are DIR/corpus.gz and DIR/prior.ckpt of
# `bench/prior.sh corpus` run before store schema 4 (so its nsga2 examples have no parent in
# context; runs made now give them theirs); `make prior-check` rebuilds the checkpoint from
# that corpus and compares it.
set -euo pipefail
MODE=${1:-}
[[ $MODE == corpus || $MODE == corpus-edits || $MODE == measure ]] || { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }
shift
OUT=bench-out/prior SEEDS=5 HELD_OUT=docs/examples/mzi-mems.json UHNAS=${UHNAS:-./build/uhnas}
while (($#)); do
  case $1 in
    --out) OUT=$2 ;; --seeds) SEEDS=$2 ;; --backend) HELD_OUT=$2 ;;
    *) echo "prior.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
mkdir -p "$OUT"
EVAL=(--data fashion-mnist --limit-train 6000 --limit-test 2000 --epochs 2 --mc 2
      --population 10 --children 10 --generations 6 --cache "$OUT/cache.sqlite" --quiet)

run() { # DIR SEARCH-OPTIONS...: a run, skipped when finished, resumed when interrupted
  local dir=$1; shift
  [[ -f $dir/front.csv ]] && return 0
  if [[ -f $dir/run.sqlite ]]; then
    "$UHNAS" resume "$dir" --cache "$OUT/cache.sqlite" --quiet > /dev/null
  else
    "$UHNAS" search "$@" "${EVAL[@]}" --out "$dir" > /dev/null
  fi
  echo "$(date -u +%FT%TZ) $dir"
}

if [[ $MODE == corpus || $MODE == corpus-edits ]]; then
  runs=() name=prior corpus=corpus language=()
  [[ $MODE == corpus-edits ]] && name=prior-edits corpus=corpus-edits language=(--llm-language edits)
  for backend in cpu-xeon8380-fp32 gpu-b200-fp16 crossbar-pcm mzi-nonvolatile mzi-realistic mzi-worst; do
    for strategy in random nsga2; do
      run "$OUT/corpus/$backend-$strategy" --backend "$backend" --strategy "$strategy" --seed 101
      runs+=("$OUT/corpus/$backend-$strategy")
    done
  done
  list=$(IFS=,; echo "${runs[*]}")
  "$UHNAS" pretrain --runs "$list" "${language[@]}" --steps 2000 --out "$OUT/$name.ckpt" \
    --write-corpus "$OUT/$corpus.gz"
  "$UHNAS" pretrain --corpus "$OUT/$corpus.gz" "${language[@]}" --steps 2000 \
    --out "$OUT/$name-again.ckpt" > /dev/null
  cmp "$OUT/$name.ckpt" "$OUT/$name-again.ckpt" && echo "rebuilt from the corpus alone: identical"
  exit 0
fi

[[ -f $OUT/prior.ckpt ]] || { echo "prior.sh: no $OUT/prior.ckpt: run 'bench/prior.sh corpus' first" >&2; exit 2; }
for ((seed = 1; seed <= SEEDS; seed++)); do
  run "$OUT/measure/llm-prior/s$seed" --backend "$HELD_OUT" --strategy llm --seed "$seed" --llm-prior "$OUT/prior.ckpt"
  run "$OUT/measure/llm/s$seed" --backend "$HELD_OUT" --strategy llm --seed "$seed" --llm-prior none
  run "$OUT/measure/random/s$seed" --backend "$HELD_OUT" --strategy random --seed "$seed"
done
"$UHNAS" compare "$OUT"/measure/*/s* --group-by-parent --out "$OUT/measure.html" \
  --csv "$OUT/measure.csv" --curves "$OUT/measure-curves.csv"
column -s, -t < "$OUT/measure.csv" | cut -c1-200
