#!/usr/bin/env bash
# The experiment scripts as a user meets them: --help tells what the script does and its
# options (not the script's code), and the system-prompt ablation runs without a model server
# (the built-in model: hardware prompt against none) to its hypervolume table.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for f in "$SRC"/experiments/*.sh; do
  name=$(basename "$f" .sh)
  [[ $name == lib ]] && continue
  out=$(UHNAS="$UHNAS" "$f" --help 2>&1)
  [[ $? -eq 0 && "$out" == "$name — "*"Options:"*"--paper"* && "$out" != *"source "* ]] && ok \
    || bad "$name --help: $out"
done
out=$(UHNAS="$UHNAS" "$SRC/experiments/system-prompt.sh" --seeds 1 --data tiny --out "$tmp/sp" 2>&1)
[[ $? -eq 0 && "$out" == *"llm/builtin-hardware"*"llm/builtin-none"* ]] && ok \
  || bad "system-prompt.sh without a model server: $out"
finish
