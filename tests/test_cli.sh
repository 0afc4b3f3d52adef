#!/usr/bin/env bash
# The uhnas command line as a user meets it: help, exit codes, one-line errors, JSON output,
# and the accuracy promised on real Fashion-MNIST.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MLP='{"layers":[{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":10}]}'
CNN='{"layers":[{"type":"conv2d","filters":8,"kernel":3,"activation":"relu"},{"type":"pool","kind":"max","size":2},{"type":"dense","units":32,"activation":"relu"},{"type":"dense","units":10}]}'
TINY_MLP='{"layers":[{"type":"dense","units":32,"activation":"relu"},{"type":"dense","units":4}]}'

# help and usage
expect 0 "usage: uhnas COMMAND" "$UHNAS" --help
expect 2 "a run keeps its config, so resume takes only what cannot change its result" "$UHNAS" resume "$tmp/nothing" --epochs 5
expect 0 "train" "$UHNAS" --help
expect 0 "--limit-train N" "$UHNAS" train --help
expect 0 "uhnas 0." "$UHNAS" --version
expect 2 "unknown command 'frobnicate'" "$UHNAS" frobnicate
expect 2 "usage:" "$UHNAS"
expect 2 "--arch is required" "$UHNAS" train --data tiny
expect 2 "unknown option '--epoch'; did you mean --epochs?" "$UHNAS" train --arch "$TINY_MLP" --epoch 3
# "did you mean" for misspelled commands, options, choices, backends, datasets and file keys;
# none for a word that is no typo of any
expect 2 "unknown command 'serach'; did you mean search?" "$UHNAS" serach
out=$("$UHNAS" frobnicate 2>&1); [[ "$out" != *"did you mean"* ]] && ok || bad "a hint for frobnicate: $out"
expect 2 "got 'nsag2'; did you mean nsga2?" "$UHNAS" search --backend mzi-realistic --strategy nsag2
expect 2 'unknown backend "mzi-realistc" (did you mean mzi-realistic?)' \
  "$UHNAS" energy --backend mzi-realistc --arch "$SRC/configs/demo-arch.json"
expect 2 'unknown dataset "fashion-mnst" (did you mean fashion-mnist?)' \
  "$UHNAS" train --data fashion-mnst --arch "$TINY_MLP"
sed 's/"tile"/"tyle"/' "$SRC/configs/backends/mzi-worst.json" > "$tmp/typo-backend.json"
expect 2 'params.tyle: unknown key (did you mean "tile"?)' \
  "$UHNAS" energy --backend "$tmp/typo-backend.json" --arch "$SRC/configs/demo-arch.json"
expect 2 "--epochs: expected an integer in 1..10000, got 'many'" "$UHNAS" train --arch "$TINY_MLP" --epochs many
expect 2 "--epochs: expected an integer in 1..10000, got '0'" "$UHNAS" train --arch "$TINY_MLP" --epochs 0
expect 2 "--optimizer: expected one of sgd|adam, got 'rmsprop'" "$UHNAS" train --arch "$TINY_MLP" --optimizer rmsprop
expect 2 "--lr needs a value" "$UHNAS" train --arch "$TINY_MLP" --lr

# bad architectures: exit 2, one line naming layer and field
expect 2 'layer 1 (dense): field "units": must be an integer in 1..4096, got 0' \
  "$UHNAS" train --data tiny --arch '{"layers":[{"type":"dense","units":0},{"type":"dense","units":4}]}'
expect 2 'the last layer must be dense with units = 4' \
  "$UHNAS" train --data tiny --arch "$MLP"
expect 2 "--arch:1:11: invalid JSON" "$UHNAS" train --data tiny --arch '{"layers":['
# a file's syntax error is named by file, line and column
printf '{"layers": [\n  {"type": "dense", "units": 10,}\n]}\n' > "$tmp/bad-arch.json"
expect 2 "$tmp/bad-arch.json:2:34: invalid JSON" "$UHNAS" energy --backend mzi-realistic --arch "$tmp/bad-arch.json"
expect 2 "no/such/arch.json" "$UHNAS" train --data tiny --arch no/such/arch.json
head -c 70000 /dev/zero | tr '\0' ' ' > "$tmp/huge.json"
expect 2 "larger than the limit" "$UHNAS" train --data tiny --arch "$tmp/huge.json"
lines=$("$UHNAS" train --data tiny --arch '{"layers":[{"type":"dense"}]}' 2>&1 | wc -l)
[[ $lines -eq 1 ]] && ok || bad "an error should be one line, got $lines"

# bad data
expect 2 "unknown dataset" "$UHNAS" train --data cifar99 --arch "$TINY_MLP"
expect 1 "$tmp/empty" "$UHNAS" train --data fashion-mnist --data-dir "$tmp/empty" --arch "$MLP"

# a real training run on the built-in set, as JSON
# (with search's optimizer by default: Adam at 1e-3)
out=$("$UHNAS" train --data tiny --arch "$TINY_MLP" --epochs 10 --batch 32 --json)
rc=$?
if [[ $rc -eq 0 ]] && /usr/bin/env python3 - "$out" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
for k in ("test_accuracy", "params", "macs", "train_seconds", "hash", "arch"):
    assert k in o, k
assert 0.9 <= o["test_accuracy"] <= 1, o
assert o["params"] == 144 * 32 + 32 + 32 * 4 + 4, o
assert o["macs"] == 144 * 32 + 32 * 4, o
assert o["optimizer"] == "adam" and abs(o["lr"] - 1e-3) < 1e-9, o
PY
then ok; else bad "train --json on tiny: $out"; fi
# no progress line when stdout is not a terminal
out=$("$UHNAS" train --data tiny --arch "$TINY_MLP" --epochs 2)
[[ "$out" != *ETA* && "$out" == *"test accuracy"* ]] && ok || bad "non-tty output: $out"
# progress line with ETA on a terminal (script(1) gives the command a pty)
if command -v script >/dev/null; then
  out=$(script -qec "$UHNAS train --data tiny --arch '$TINY_MLP' --epochs 2" /dev/null)
  [[ "$out" == *ETA* ]] && ok || bad "tty output lacks a progress line: $out"
fi

# The accuracy promised on full Fashion-MNIST (the sanitizer build runs a shorter version:
# it checks the same path, not the figure).
acc() { sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/'; }
if [[ -n "${UHNAS_SANITIZED:-}" ]]; then
  out=$("$UHNAS" train --data fashion-mnist --arch "$CNN" --epochs 1 --limit-train 2000 --limit-test 500 --json)
  [[ $? -eq 0 ]] && ok || bad "fashion-mnist CNN under sanitizers: $out"
else
  a=$("$UHNAS" train --data fashion-mnist --arch "$MLP" --epochs 2 --threads 2 --json | acc)
  awk -v a="$a" 'BEGIN { exit !(a >= 0.84) }' && ok || bad "MLP 784-128-10, 2 epochs: accuracy $a < 0.84"
  echo "MLP 784-128-10, 2 epochs: test accuracy $a"
  a=$("$UHNAS" train --data fashion-mnist --arch "$CNN" --epochs 3 --threads 2 --json | acc)
  awk -v a="$a" 'BEGIN { exit !(a >= 0.87) }' && ok || bad "CNN, 3 epochs: accuracy $a < 0.87"
  echo "CNN conv8-pool-dense32, 3 epochs: test accuracy $a"
fi

finish
