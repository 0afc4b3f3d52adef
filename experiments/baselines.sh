#!/usr/bin/env bash
# baselines — random, evolution, nsga2 and linas (and llm, llmatic when a language model is
# given with --llm-url/--llm-model or --llm-replay) at one budget and several seeds on
# mzi-realistic; writes the comparison report and prints the final hypervolume table.

source "$(dirname "$0")/lib.sh"
strategies=(random evolution nsga2 linas)
if [[ ${#LLM[@]} -gt 0 ]]; then
  strategies+=(llm llmatic)
else
  echo "  (llm and llmatic skipped: give --llm-url URL --llm-model NAME, or --llm-replay FILE)" >&2
fi
dirs=()
for s in "${strategies[@]}"; do
  for seed in $(seq 1 "$SEEDS"); do
    echo "  $s seed $seed" >&2
    extra=()
    [[ $s == llm || $s == llmatic ]] && extra=("${LLM[@]}")
    run "$OUT/$s-s$seed" --backend mzi-realistic --strategy "$s" --seed "$seed" "${extra[@]}"
    dirs+=("$OUT/$s-s$seed")
  done
done
"$UHNAS" compare "${dirs[@]}" --out "$OUT/baselines.html" >/dev/null
hv_table "${dirs[@]}" | tee "$OUT/baselines.txt"
echo "report: $OUT/baselines.html"
