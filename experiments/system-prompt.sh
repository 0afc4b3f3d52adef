#!/usr/bin/env bash
# system-prompt — the paper's ablation: UH-NAS (strategy llm) on mzi-realistic with the
# hardware-aware system prompt, a generic one and none, same seeds and budget; writes the
# comparison report and prints the hypervolume table. With --llm-url URL --llm-model NAME (or
# --llm-replay FILE) a remote model; without, the built-in one (hardware against none: it has
# no generic prompt).
source "$(dirname "$0")/lib.sh"
prompts=(hardware generic none)
if [[ ${#LLM[@]} -eq 0 ]]; then
  prompts=(hardware none)
  # both without the shipped prior (learnt with hardware tokens): only the tokens differ
  LLM=(--llm-prior none)
  echo "  (no --llm-url or --llm-replay: the built-in model without a prior, hardware prompt against none)" >&2
fi
dirs=()
for prompt in "${prompts[@]}"; do
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
