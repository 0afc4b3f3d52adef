#!/usr/bin/env bash
# uhnas backends / energy / eval as a user meets them, on every shipped backend.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MLP='{"layers":[{"type":"dense","units":64,"activation":"relu"},{"type":"dense","units":10}]}'
BACKENDS="cpu-xeon8380-fp32 gpu-b200-fp16 mzi-realistic mzi-worst crossbar-pcm"

# backends: the five shipped ones, in text and JSON
out=$("$UHNAS" backends)
for b in $BACKENDS; do [[ "$out" == *"$b"* ]] && ok || bad "backends lacks $b: $out"; done
# each precision whole, as --json has it
"$UHNAS" backends --json | python3 -c 'import json, sys
table = open(sys.argv[1]).read()
for r in map(json.loads, sys.stdin):
    assert r["precision"] in table, r["precision"]' <(echo "$out") && ok || bad "backends cut a precision: $out"
n=$("$UHNAS" backends --json | python3 -c 'import json,sys; rows=[json.loads(l) for l in sys.stdin]; assert all(r["pj_per_mac"] > 0 and r["model"] in ("digital","mzi","crossbar") for r in rows), rows; print(len(rows))')
[[ "${n:-0}" -ge 5 ]] && ok || bad "backends --json gave ${n:-nothing}"
expect 0 "usage: uhnas backends" "$UHNAS" backends --help

# energy: JSON with energy_nj and a breakdown, on every backend
for b in $BACKENDS; do
  out=$("$UHNAS" energy --arch "$MLP" --backend "$b" --json)
  if [[ $? -eq 0 ]] && python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["energy_nj"] > 0
assert abs(sum(o["breakdown"]["total"].values()) - o["energy_nj"]) <= 1e-9 * o["energy_nj"]
assert abs(sum(l["nj"] for l in o["breakdown"]["layers"]) - o["energy_nj"]) <= 1e-9 * o["energy_nj"]
' "$out"; then ok; else bad "energy on $b: $out"; fi
done
expect 0 "energy per inference" "$UHNAS" energy --arch "$MLP" --backend cpu-xeon8380-fp32
expect 2 'unknown backend "tpu-v9"' "$UHNAS" energy --arch "$MLP" --backend tpu-v9
expect 2 "--arch and --backend are required" "$UHNAS" energy --backend cpu-xeon8380-fp32
expect 2 "--input: expected CxHxW" "$UHNAS" energy --arch "$MLP" --backend cpu-xeon8380-fp32 --input 28
echo '{"name":"x","model":"digital","params":{"format":"fp32","mac_pj":{"value":1}}}' > "$tmp/bad.json"
expect 2 'params.mac_pj: needs a "source"' "$UHNAS" energy --arch "$MLP" --backend-file "$tmp/bad.json"
# a violation: exit 2 and the list, per layer
expect 2 "layer 1, tile" "$UHNAS" energy --backend cpu-xeon8380-fp32 \
  --arch '{"layers":[{"type":"dense","units":64,"tile":8},{"type":"dense","units":10}]}'

# eval on every backend (a quick run; the physics tests check the numbers)
for b in $BACKENDS; do
  out=$("$UHNAS" eval --arch "$MLP" --backend "$b" --data fashion-mnist --limit-train 3000 \
        --limit-test 500 --epochs 2 --mc 3 --json)
  if [[ $? -eq 0 ]] && python3 -c '
import json, sys
o = json.loads(sys.argv[1])
for k in ("clean_accuracy", "noisy_accuracy", "noisy_accuracy_std", "energy_nj", "macs", "params", "violations"):
    assert k in o, k
assert o["clean_accuracy"] > 0.6, o
assert 0 <= o["noisy_accuracy"] <= 1 and o["noisy_accuracy_std"] >= 0
assert o["violations"] == []
' "$out"; then ok; echo "eval $b: $(echo "$out" | cut -c1-120)"; else bad "eval on $b: $out"; fi
done
expect 2 "violates" "$UHNAS" eval --backend cpu-xeon8380-fp32 --data tiny \
  --arch '{"layers":[{"type":"dense","units":16,"tile":8},{"type":"dense","units":4}]}'
expect 0 "--noise-aware" "$UHNAS" eval --help

# the user guide's worked example (a new photonic platform) loads and is cheaper to hold
ex=$("$UHNAS" energy --arch "$MLP" --backend "$SRC/docs/examples/mzi-mems.json" --json 2>&1)
python3 - "$ex" <<'PY' && ok || bad "docs/examples/mzi-mems.json: $ex"
import json, sys
o = json.loads(sys.argv[1])
assert o["energy_nj"] > 0 and o["breakdown"]["total"]["heater"] < 1e-3, o
PY

finish
