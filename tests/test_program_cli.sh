#!/usr/bin/env bash
# uhnas export --format mzi-phases | crossbar-conductances: the hardware's programming files
# (docs/programming.md), read by independent readers written from the documented conventions
# alone (pure Python): every weight matrix is rebuilt from the MZI phases to float rounding
# and from their DAC codes within a few DAC steps, and from the crossbar's device pairs to
# float rounding; the biases are exact; from --arch with --backend and from a run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat > "$tmp/files.py" <<'PY'
# What both readers share: the programming file (its format and version checked), the weights
# (.uhw) and each layer's offset in them (from `uhnas export --format json`).
import json, struct

def load(path, weights, arch, fmt):
    p = json.load(open(path))
    assert p["format"] == fmt and p["version"] == 1, p["format"]
    raw = open(weights, "rb").read()
    n = struct.unpack_from("<Q", raw, 8)[0]
    w = struct.unpack_from("<%df" % n, raw, 16)
    offsets, off = {}, 0
    for i, l in enumerate(json.load(open(arch))["resolved"]["layers"]):
        offsets[i], off = off, off + l["params"]
    assert off == n
    return p, w, offsets

def f32(x):  # the files' biases are floats, printed with 9 digits
    return struct.unpack("<f", struct.pack("<f", x))[0]
PY
cat > "$tmp/reader.py" <<'PY'
# reader.py FILE WEIGHTS ARCH_JSON: rebuilds each layer's W from FILE (uhnas-mzi-phases 1) and
# prints the worst relative Frobenius error against WEIGHTS (.uhw), exact and from the codes.
import cmath, math, sys
from files import f32, load

def mesh(m, quantised, step):
    # U = D · T_K ⋯ T_1: MZIs in list order on modes (k, k+1), then the output phases
    n = m["modes"]
    U = [[complex(i == j) for j in range(n)] for i in range(n)]
    for row in m["mzis"]:
        k, theta, phi = int(row[0]), row[1], row[2]
        if quantised:  # codes on the physical phases: 2θ and φ on a grid of step
            theta, phi = row[3] * step / 2, row[4] * step
        t = [[cmath.exp(1j * phi) * math.cos(theta), -math.sin(theta)],
             [cmath.exp(1j * phi) * math.sin(theta), math.cos(theta)]]
        a, b = U[k], U[k + 1]
        U[k] = [t[0][0] * x + t[0][1] * y for x, y in zip(a, b)]
        U[k + 1] = [t[1][0] * x + t[1][1] * y for x, y in zip(a, b)]
    for j, row in enumerate(m["output"]):
        d = row[1] * step if quantised else row[0]
        U[j] = [cmath.exp(1j * d) * x for x in U[j]]
    return U

def block(b, quantised, step):
    # scale · Re(U · Σ · V), Σ the mb × nb diagonal of the attenuators' cos θ
    if b["scale"] == 0:
        return [[0.0] * b["cols"] for _ in range(b["rows"])]
    U, V = mesh(b["u"], quantised, step), mesh(b["v"], quantised, step)
    t = [math.cos(a[1] * step / 2 if quantised else a[0]) for a in b["attenuators"]]
    return [[b["scale"] * sum(U[i][q] * t[q] * V[q][j] for q in range(len(t))).real
             for j in range(b["cols"])] for i in range(b["rows"])]

p, w, offsets = load(sys.argv[1], sys.argv[2], sys.argv[3], "uhnas-mzi-phases")
step = 2 * math.pi / 2 ** p["phase_bits"]
worst = {}
for quantised in (False, True):
    worst[quantised] = 0
    for L in p["layers"]:
        R, C, o = L["rows"], L["cols"], offsets[L["layer"]]
        got = [[None] * C for _ in range(R)]
        for b in L["blocks"]:
            assert b["rows"] <= L["tile"] and b["cols"] <= L["tile"]
            B = block(b, quantised, step)
            for i in range(b["rows"]):
                for j in range(b["cols"]):
                    assert got[b["row"] + i][b["col"] + j] is None, "two blocks on one weight"
                    got[b["row"] + i][b["col"] + j] = B[i][j]
        assert all(v is not None for row in got for v in row), "a weight no block covers"
        W = [[w[o + r * C + c] for c in range(C)] for r in range(R)]
        err = math.sqrt(sum((got[r][c] - W[r][c]) ** 2 for r in range(R) for c in range(C)))
        norm = math.sqrt(sum(x * x for row in W for x in row))
        assert [f32(x) for x in L["bias"]] == list(w[o + R * C:o + R * C + len(L["bias"])])
        worst[quantised] = max(worst[quantised], err / norm)
print(len(p["layers"]), p["phase_bits"], worst[False], worst[True])
PY
cat > "$tmp/xbar.py" <<'PY'
# xbar.py FILE WEIGHTS ARCH_JSON: rebuilds each layer's W = (G+ - G-) * weight_per_us from FILE
# (uhnas-crossbar-conductances 1) and checks it against WEIGHTS (.uhw) to float rounding.
import sys
from files import f32, load
p, w, offsets = load(sys.argv[1], sys.argv[2], sys.argv[3], "uhnas-crossbar-conductances")
tiles = 0
for L in p["layers"]:
    O, I, o = L["outputs"], L["inputs"], offsets[L["layer"]]
    got = [[None] * I for _ in range(O)]
    gmax = 0
    for t in L["tiles"]:
        assert t["inputs"] <= L["tile_rows"] and t["outputs"] <= L["tile_cols"]
        tiles += 1
        for j in range(t["inputs"]):          # a tile's rows are inputs (word lines)
            for i in range(t["outputs"]):     # its columns outputs (bit lines)
                gp, gm = t["g_plus"][j][i], t["g_minus"][j][i]
                assert 0 <= gp <= p["g_max_us"] and 0 <= gm <= p["g_max_us"] and gp * gm == 0
                gmax = max(gmax, gp, gm)
                assert got[t["output"] + i][t["input"] + j] is None, "two devices for one weight"
                got[t["output"] + i][t["input"] + j] = (gp - gm) * L["weight_per_us"]
    assert all(v is not None for row in got for v in row), "a weight no tile holds"
    assert abs(gmax - p["g_max_us"]) < 1e-9, "the largest weight is not at G_max"
    for r in range(O):
        for c in range(I):
            assert abs(got[r][c] - w[o + r * I + c]) <= 1e-6 * abs(w[o + r * I + c]), (r, c)
    assert [f32(x) for x in L["bias"]] == list(w[o + O * I:o + O * I + len(L["bias"])])
print(len(p["layers"]), tiles)
PY
# check FILE WEIGHTS ARCH WHAT: rebuilt exactly from the phases, within 4 DAC steps from the codes
check() {
  local out; out=$(python3 "$tmp/reader.py" "$1" "$2" "$3" 2>&1)
  python3 -c 'import math, sys
layers, bits, exact, coded = sys.argv[1].split()
step = 2 * math.pi / 2 ** int(bits)
sys.exit(not (int(layers) >= 1 and float(exact) < 1e-9 and 0 < float(coded) < 4 * step))' "$out" 2> /dev/null \
    && ok || bad "$4: reader says: $out"
}

# ---- from an architecture, random weights, two MZI backends ------------------------------
# random_weights ARCH OUT_WEIGHTS OUT_ARCH_JSON SEED: N(0, 0.1) weights for ARCH as a .uhw
random_weights() {
  "$UHNAS" export --arch "$1" --format json > "$3" && python3 - "$3" "$2" "$4" <<'PY'
import json, random, struct, sys
n = json.load(open(sys.argv[1]))["resolved"]["params"]
rnd = random.Random(int(sys.argv[3]))
w = [rnd.gauss(0, 0.1) for _ in range(n)]
open(sys.argv[2], "wb").write(b"UHNASWT1" + struct.pack("<Q", n) + struct.pack("<%df" % n, *w))
PY
}
random_weights "$SRC/configs/demo-arch.json" "$tmp/w.uhw" "$tmp/arch.json" 7 && ok || bad "random weights"
for b in mzi-realistic mzi-nonvolatile; do
  out=$("$UHNAS" export --arch "$SRC/configs/demo-arch.json" --weights "$tmp/w.uhw" --backend "$b" \
    --format mzi-phases --out "$tmp/$b.json" 2>&1)
  [[ $? -eq 0 && "$out" == "$tmp/$b.json" ]] && ok || bad "export mzi-phases on $b: $out"
  check "$tmp/$b.json" "$tmp/w.uhw" "$tmp/arch.json" "$b"
done
# a layer of many blocks and tiles (its tile hint 4): 784 inputs to 10 outputs
TILED='{"layers":[{"type":"dense","units":10,"tile":4}]}'
random_weights "$TILED" "$tmp/t.uhw" "$tmp/tiled.json" 8 && ok || bad "random weights (tiled)"
"$UHNAS" export --arch "$TILED" --weights "$tmp/t.uhw" --backend mzi-worst --format mzi-phases \
  --out "$tmp/tiled-mzi.json" > /dev/null && ok || bad "export mzi-phases (tiled)"
check "$tmp/tiled-mzi.json" "$tmp/t.uhw" "$tmp/tiled.json" "mzi-worst, 4x4 blocks"
[[ $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"][0]["blocks"]))' "$tmp/tiled-mzi.json") == 588 ]] \
  && ok || bad "784 x 10 in 4 x 4 blocks is 196 x 3 = 588 blocks"
# xbar_check ARCH WEIGHTS ARCH_JSON: the crossbar file of ARCH read back; prints layers, tiles
xbar_check() {
  "$UHNAS" export --arch "$1" --weights "$2" --backend crossbar-pcm --format crossbar-conductances \
    --out "$tmp/xbar.json" > /dev/null && python3 "$tmp/xbar.py" "$tmp/xbar.json" "$2" "$3"
}
out=$(xbar_check "$SRC/configs/demo-arch.json" "$tmp/w.uhw" "$tmp/arch.json" 2>&1) && ok \
  || bad "crossbar-conductances of the demo network: $out"
out=$(xbar_check "$TILED" "$tmp/t.uhw" "$tmp/tiled.json" 2>&1)
[[ $? -eq 0 && "$out" == "1 588" ]] && ok || bad "784 x 10 on 4 x 4 tiles is 588 tiles: $out"

# the same weights give the same file (a function of weights and backend)
"$UHNAS" export --arch "$SRC/configs/demo-arch.json" --weights "$tmp/w.uhw" --backend mzi-realistic \
  --format mzi-phases > "$tmp/again.json" && cmp -s <(python3 -m json.tool "$tmp/again.json") \
  <(python3 -m json.tool "$tmp/mzi-realistic.json") && ok || bad "stdout differs from --out"

# ---- from a run: the run's own backend and stored weights -------------------------------
"$UHNAS" search --backend mzi-worst --data tiny --population 4 --children 2 --generations 1 \
  --epochs 1 --batch 32 --mc 2 --quiet --out "$tmp/run" > /dev/null 2>&1 && ok || bad "search"
id=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["id"])' "$tmp/run/front.csv")
"$UHNAS" export --run "$tmp/run" --candidate "$id" --format mzi-phases --out "$tmp/run.json" > /dev/null \
  && "$UHNAS" export --run "$tmp/run" --candidate "$id" --format pytorch --out "$tmp/net.py" > /dev/null \
  && "$UHNAS" export --run "$tmp/run" --candidate "$id" --format json > "$tmp/run-arch.json" \
  && ok || bad "export of candidate $id"
check "$tmp/run.json" "$tmp/net.py.uhw" "$tmp/run-arch.json" "the run's candidate $id"

# ---- refused, with the reason -----------------------------------------------------------
A=(--arch "$SRC/configs/demo-arch.json" --weights "$tmp/w.uhw" --format mzi-phases)
expect 2 "give the hardware, --backend NAME" "$UHNAS" export "${A[@]}"
expect 2 "backend gpu-b200-fp16 (model digital) has no programming file" \
  "$UHNAS" export "${A[@]}" --backend gpu-b200-fp16
expect 2 "backend crossbar-pcm (model crossbar) writes --format crossbar-conductances" \
  "$UHNAS" export "${A[@]}" --backend crossbar-pcm
expect 2 "programs trained weights" "$UHNAS" export --arch "$SRC/configs/demo-arch.json" \
  --backend mzi-realistic --format mzi-phases
expect 2 "mzi-phases, crossbar-conductances; not 'mzi-phase'" "$UHNAS" export "${A[@]/mzi-phases/mzi-phase}" --backend mzi-realistic
expect 2 "give --arch" "$UHNAS" export --run "$tmp/run" --candidate "$id" --backend mzi-realistic \
  --format mzi-phases
"$UHNAS" export --help | grep "docs/programming.md" > /dev/null && ok || bad "export --help"
finish
