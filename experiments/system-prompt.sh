#!/usr/bin/env bash
# system-prompt — the paper's ablation: UH-NAS (strategy llm) on mzi-realistic with the
# hardware-aware system prompt, a generic one and none, same seeds and budget; writes the
# comparison report and prints the hypervolume table. Needs a language model:
# --llm-url URL --llm-model NAME (or --llm-replay FILE). Options: experiments/lib.sh.
source "$(dirname "$0")/lib.sh"
if [[ ${#LLM[@]} -eq 0 ]]; then
  echo "system-prompt: needs a language model: --llm-url URL --llm-model NAME (see docs/llm.md)" >&2
  exit 2
fi
dirs=()
for prompt in hardware generic none; do
  for seed in $(seq 1 "$SEEDS"); do
    echo "  system prompt $prompt, seed $seed" >&2
    run "$OUT/$prompt-s$seed" --backend mzi-realistic --strategy llm --seed "$seed" \
      --system-prompt "$prompt" "${LLM[@]}"
    dirs+=("$OUT/$prompt-s$seed")
  done
done
"$UHNAS" compare "${dirs[@]}" --out "$OUT/system-prompt.html" >/dev/null
hv_table "${dirs[@]}" | tee "$OUT/system-prompt.txt"
echo "report: $OUT/system-prompt.html"
