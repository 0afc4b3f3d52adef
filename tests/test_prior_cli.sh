#!/usr/bin/env bash
# uhnas pretrain and search --llm-prior FILE: the built-in model pretrained on earlier runs of
# other backends, reproduced byte for byte from the runs and from its corpus alone; a run
# starts from it and fine-tunes it; a changed, damaged or mis-shaped prior is refused with a
# clear error; the corpus file is parsed strictly.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BASE=(--data tiny --epochs 1 --batch 32 --mc 2 --population 6 --children 3 --generations 2 --quiet)
SMALL=(--llm-layers 2 --llm-width 32 --llm-heads 2 --llm-context 160)
# r1 trains 2 epochs: the pruner stops some candidates after the first
"$UHNAS" search "${BASE[@]}" --epochs 2 --backend mzi-realistic --strategy random --out "$tmp/r1" > /dev/null 2>&1 && ok || bad "run r1"
"$UHNAS" search "${BASE[@]}" --backend crossbar-pcm --strategy random --out "$tmp/r2" > /dev/null 2>&1 && ok || bad "run r2"

# ---- pretrain: reproducible, from runs or from the corpus alone -----------------------------
out=$("$UHNAS" pretrain --runs "$tmp/r1,$tmp/r2" "${SMALL[@]}" --steps 40 --out "$tmp/p1.ckpt" \
  --write-corpus "$tmp/c.gz" 2>&1)
[[ $? -eq 0 && "$out" == *"examples, 40 steps"* && "$out" == *"(digest "* ]] && ok || bad "pretrain: $out"
count() { sqlite3 "$tmp/$1/run.sqlite" "select count(*) from candidates where status $2"; }
n_ok=$(( $(count r1 "= 'ok'") + $(count r2 "= 'ok'") ))
n_measured=$(( $(count r1 "in ('ok', 'pruned')") + $(count r2 "in ('ok', 'pruned')") ))
[[ $n_measured -gt $n_ok && "$out" == "$n_measured examples,"* ]] && ok \
  || bad "pretrain read $out, the runs have $n_measured ok or pruned candidates ($n_ok ok)"
ok_only=$("$UHNAS" pretrain --runs "$tmp/r1,$tmp/r2" "${SMALL[@]}" --steps 1 --ok-only --out "$tmp/ok.ckpt" 2>&1)
[[ "$ok_only" == "$n_ok examples,"* ]] && ok || bad "pretrain --ok-only read $ok_only, the runs have $n_ok ok"
[[ $(zcat "$tmp/c.gz" | wc -l) -eq $((n_measured + 1)) && $(zcat "$tmp/c.gz" | head -1) == "uhnas-lm-corpus 1 vocab "* ]] \
  && ok || bad "corpus: $(zcat "$tmp/c.gz" | head -2)"
# the loss falls: it learned the examples
python3 -c 'import re,sys; a,b=map(float,re.search(r"loss ([0-9.]+) -> ([0-9.]+)",sys.argv[1]).groups()); sys.exit(not b < a)' "$out" \
  && ok || bad "pretraining loss did not fall: $out"
"$UHNAS" pretrain --runs "$tmp/r1,$tmp/r2" "${SMALL[@]}" --steps 40 --out "$tmp/p2.ckpt" > /dev/null 2>&1 \
  && cmp -s "$tmp/p1.ckpt" "$tmp/p2.ckpt" && ok || bad "pretraining twice gave different checkpoints"
"$UHNAS" pretrain --corpus "$tmp/c.gz" "${SMALL[@]}" --steps 40 --out "$tmp/p3.ckpt" > /dev/null 2>&1 \
  && cmp -s "$tmp/p1.ckpt" "$tmp/p3.ckpt" && ok || bad "the corpus alone gave another checkpoint"
"$UHNAS" pretrain --corpus "$tmp/c.gz" "${SMALL[@]}" --steps 40 --seed 2 --out "$tmp/p4.ckpt" > /dev/null 2>&1 \
  && ! cmp -s "$tmp/p1.ckpt" "$tmp/p4.ckpt" && ok || bad "another seed gave the same checkpoint"
# the shipped corpus (configs/lm/corpus.gz: bench/prior.sh corpus) is this build's
out=$("$UHNAS" pretrain --corpus "$SRC/configs/lm/corpus.gz" --llm-layers 1 --llm-width 16 --llm-heads 2 \
  --steps 2 --out "$tmp/shipped.ckpt" 2>&1)
[[ $? -eq 0 && "$out" == "840 examples, 2 steps"* ]] && ok || bad "the shipped corpus: $out"
expect 2 "--out FILE is required" "$UHNAS" pretrain --runs "$tmp/r1"
expect 2 "give --runs or --corpus" "$UHNAS" pretrain --out "$tmp/x.ckpt"
expect 2 "nothing" "$UHNAS" pretrain --runs "$tmp/nothing" --out "$tmp/x.ckpt"
"$UHNAS" pretrain --help | grep "the same checkpoint, byte for" > /dev/null && ok || bad "pretrain --help"

# ---- the corpus is input: strict; a damaged one is exit code 1, like a damaged data file ---
zcat "$tmp/c.gz" > "$tmp/plain.txt"
"$UHNAS" pretrain --corpus "$tmp/plain.txt" "${SMALL[@]}" --steps 40 --out "$tmp/p5.ckpt" > /dev/null 2>&1 \
  && cmp -s "$tmp/p1.ckpt" "$tmp/p5.ckpt" && ok || bad "an uncompressed corpus"
corrupt() { # NAME SED: a corpus edited by SED
  sed "$2" "$tmp/plain.txt" | gzip > "$tmp/$1.gz"
}
corrupt header '1s/vocab [0-9]*/vocab 7/'
expect 1 "not a corpus of this build" "$UHNAS" pretrain --corpus "$tmp/header.gz" --out "$tmp/x.ckpt"
corrupt token '2s/ [0-9]*$/ 99999/'
expect 1 "token.gz:2: a token out of range" "$UHNAS" pretrain --corpus "$tmp/token.gz" --out "$tmp/x.ckpt"
corrupt short '3s/ [0-9]*$//'
expect 1 "short.gz:3: fewer tokens than its length" "$UHNAS" pretrain --corpus "$tmp/short.gz" --out "$tmp/x.ckpt"
corrupt long '2s/$/ 5/'
expect 1 "long.gz:2: more than its length" "$UHNAS" pretrain --corpus "$tmp/long.gz" --out "$tmp/x.ckpt"
corrupt length '2s/^[0-9]*/1/'
expect 1 "length.gz:2: length outside 2..context" "$UHNAS" pretrain --corpus "$tmp/length.gz" --out "$tmp/x.ckpt"
head -c 300 "$tmp/c.gz" > "$tmp/cut.gz"
expect 1 "cut.gz" "$UHNAS" pretrain --corpus "$tmp/cut.gz" --out "$tmp/x.ckpt"
[[ ! -e "$tmp/x.ckpt" ]] && ok || bad "a checkpoint written from a refused corpus"

# ---- search --llm-prior FILE: starts from it, fine-tunes, keeps it ---------------------------
ARGS=("${BASE[@]}" --backend mzi-worst --strategy llm --jobs 1 --pruner none)
"$UHNAS" search "${ARGS[@]}" "${SMALL[@]}" --out "$tmp/fresh" > /dev/null 2>&1 && ok || bad "run without a prior"
uhnas_abs=$(realpath "$(command -v "$UHNAS")") # the prior is given relative to $tmp
( cd "$tmp" && "$uhnas_abs" search "${ARGS[@]}" --llm-prior p1.ckpt --out "$tmp/primed" > /dev/null 2>&1 ) \
  && ok || bad "run with a prior"
op=$(sqlite3 "$tmp/primed/run.sqlite" "select json_extract(config, '$.operator.builtin') from run")
digest=$("$UHNAS" pretrain --corpus "$tmp/c.gz" "${SMALL[@]}" --steps 40 --out "$tmp/p6.ckpt" | sed -n 's/.*(digest \([0-9a-f]*\))/\1/p')
[[ "$op" == *"\"start\":\"$tmp/p1.ckpt\""* && "$op" == *"\"start_digest\":\"$digest\""* && "$op" == *'"layers":2'* ]] \
  && ok || bad "the run's config names its prior by absolute path and digest, with its shape: $op"
# the prior changes what the model proposes (the random population is the same)
[[ $(sqlite3 "$tmp/fresh/run.sqlite" "select group_concat(hash) from candidates where generation = 0") == \
   $(sqlite3 "$tmp/primed/run.sqlite" "select group_concat(hash) from candidates where generation = 0") ]] \
  && ok || bad "the initial populations differ"
[[ $(sqlite3 "$tmp/fresh/run.sqlite" "select group_concat(hash) from candidates where generation > 0") != \
   $(sqlite3 "$tmp/primed/run.sqlite" "select group_concat(hash) from candidates where generation > 0") ]] \
  && ok || bad "the prior changed nothing"
# stopped after generation 1 with the model's memory lost: resumed, the model starts again
# from the prior and retrains to the same children, the same rows as uninterrupted
cp -r "$tmp/primed" "$tmp/cut"
sqlite3 "$tmp/cut/run.sqlite" "delete from candidates where generation = 2; delete from generations where generation = 2"
rm -rf "$tmp/cut/lm"
"$UHNAS" resume "$tmp/cut" --quiet > /dev/null 2>&1 && ok || bad "resume with a prior"
[[ $(sqlite3 "$tmp/cut/run.sqlite" "select group_concat(hash || accuracy) from candidates order by id") == \
   $(sqlite3 "$tmp/primed/run.sqlite" "select group_concat(hash || accuracy) from candidates order by id") ]] \
  && ok || bad "resumed rows differ from the uninterrupted run's"
# a run keeps the prior it began with: a changed checkpoint is refused on resume
cp "$tmp/p4.ckpt" "$tmp/p1.ckpt"
expect 2 "the checkpoint changed since the run began" "$UHNAS" resume "$tmp/cut"
# refused before a run directory exists: damaged, not a checkpoint, another shape, two
cp "$tmp/p2.ckpt" "$tmp/bad.ckpt"
printf '\x00\x01' | dd of="$tmp/bad.ckpt" bs=1 seek=5000 conv=notrunc 2> /dev/null
expect 2 "bad.ckpt: damaged checkpoint" "$UHNAS" search "${ARGS[@]}" --llm-prior "$tmp/bad.ckpt" --out "$tmp/no1"
expect 2 "c.gz: not a uhnas model checkpoint" "$UHNAS" search "${ARGS[@]}" --llm-prior "$tmp/c.gz" --out "$tmp/no2"
expect 2 "the checkpoint has --llm-layers 2, not 3" "$UHNAS" search "${ARGS[@]}" --llm-layers 3 --llm-prior "$tmp/p2.ckpt" --out "$tmp/no3"
expect 2 "one checkpoint at most" "$UHNAS" search "${ARGS[@]}" --llm-prior "$tmp/p2.ckpt,$tmp/p3.ckpt" --out "$tmp/no4"
expect 2 "neither a checkpoint" "$UHNAS" search "${ARGS[@]}" --llm-prior "$tmp/nothing" --out "$tmp/no5"
[[ ! -e "$tmp/no1" && ! -e "$tmp/no2" && ! -e "$tmp/no3" && ! -e "$tmp/no4" && ! -e "$tmp/no5" ]] \
  && ok || bad "a run directory made for a refused prior"
# none: no prior, as without the option
"$UHNAS" search "${ARGS[@]}" "${SMALL[@]}" --llm-prior none --out "$tmp/none" > /dev/null 2>&1 \
  && [[ $(sqlite3 "$tmp/none/run.sqlite" "select group_concat(hash) from candidates") == \
        $(sqlite3 "$tmp/fresh/run.sqlite" "select group_concat(hash) from candidates") ]] \
  && ok || bad "--llm-prior none differs from a run without the option"
op=$(sqlite3 "$tmp/fresh/run.sqlite" "select json_extract(config, '$.operator.builtin') from run")
[[ "$op" != *'"start"'* ]] && ok || bad "a run without --llm-prior started from a prior: $op"

# ---- edits (--llm-language edits): pretrained in the language, from runs whose model named
# its children's parents; a corpus and a checkpoint of one language are refused by the other
"$UHNAS" search "${ARGS[@]}" "${SMALL[@]}" --llm-language edits --out "$tmp/e1" > /dev/null 2>&1 && ok || bad "an edits run"
out=$("$UHNAS" pretrain --runs "$tmp/e1" "${SMALL[@]}" --llm-language edits --steps 20 --out "$tmp/pe.ckpt" \
  --write-corpus "$tmp/ce.gz" 2>&1)
[[ $? -eq 0 && "$out" == *"examples, 20 steps"* ]] && ok || bad "pretrain in edits: $out"
python3 - "$tmp/ce.gz" <<'PY' && ok || bad "the edits corpus: $(zcat "$tmp/ce.gz" | head -3)"
import gzip, sys
lines = gzip.open(sys.argv[1], "rt").read().split("\n")
assert lines[0] == "uhnas-lm-corpus 1 vocab 128", lines[0]
tokens = [int(t) for l in lines[1:] if l for t in l.split()[1:]]
assert max(tokens) >= 124, "no edit token (COPY1..SKIP2 are 124..127) in any example"
PY
# a classic strategy's run names its children's parents in its store: its mutations and
# crossovers are parent -> child pairs, written as edits (run r3, nsga2: no model records)
"$UHNAS" search "${BASE[@]}" --generations 3 --backend mzi-realistic --strategy nsga2 --out "$tmp/r3" > /dev/null 2>&1 && ok || bad "run r3"
"$UHNAS" pretrain --runs "$tmp/r3" "${SMALL[@]}" --llm-language edits --steps 1 --out "$tmp/pc.ckpt" \
  --write-corpus "$tmp/cc.gz" > /dev/null 2>&1 && ok || bad "pretrain from an nsga2 run"
python3 - "$tmp/cc.gz" "$tmp/r3/run.sqlite" <<'PY' && ok || bad "the nsga2 run's pairs: $(zcat "$tmp/cc.gz" | head -3)"
import gzip, sqlite3, sys
lines = [l.split()[1:] for l in gzip.open(sys.argv[1], "rt").read().split("\n")[1:] if l]
db = sqlite3.connect(sys.argv[2])
children = db.execute("select count(*) from candidates where status in ('ok', 'pruned') "
                      "and parents not in ('[]')").fetchone()[0]
copied = sum(1 for l in lines if any(int(t) >= 124 for t in l))  # COPY1..SKIP2: 124..127
assert children > 0 and copied > 0, (children, copied)
PY
"$UHNAS" pretrain --corpus "$tmp/ce.gz" "${SMALL[@]}" --llm-language edits --steps 20 --out "$tmp/pe2.ckpt" > /dev/null 2>&1 \
  && cmp -s "$tmp/pe.ckpt" "$tmp/pe2.ckpt" && ok || bad "the edits corpus alone gave another checkpoint"
expect 1 "ce.gz: a corpus in the edits language, and the model writes layers" \
  "$UHNAS" pretrain --corpus "$tmp/ce.gz" "${SMALL[@]}" --out "$tmp/x.ckpt"
expect 1 "c.gz: a corpus in the layers language, and the model writes edits" \
  "$UHNAS" pretrain --corpus "$tmp/c.gz" "${SMALL[@]}" --llm-language edits --out "$tmp/x.ckpt"
"$UHNAS" search "${ARGS[@]}" --llm-language edits --llm-prior "$tmp/pe.ckpt" --out "$tmp/eprimed" > /dev/null 2>&1 \
  && [[ $(sqlite3 "$tmp/eprimed/run.sqlite" "select json_extract(config, '$.operator.builtin.start') from run") == "$tmp/pe.ckpt" ]] \
  && ok || bad "an edits run from an edits checkpoint"
expect 2 "the checkpoint writes children in the edits language and the run's model in layers" \
  "$UHNAS" search "${ARGS[@]}" --llm-prior "$tmp/pe.ckpt" --out "$tmp/no6"
expect 2 "the checkpoint writes children in the layers language and the run's model in edits" \
  "$UHNAS" search "${ARGS[@]}" --llm-language edits --llm-prior "$tmp/p2.ckpt" --out "$tmp/no7"
[[ ! -e "$tmp/no6" && ! -e "$tmp/no7" && ! -e "$tmp/x.ckpt" ]] && ok || bad "made for a refused language"

# ---- --llm-prior shipped: configs/lm/prior.ckpt, found from any directory --------------
( cd / && "$uhnas_abs" search "${ARGS[@]}" --generations 1 --llm-prior shipped --out "$tmp/shipped" \
  > /dev/null 2>&1 ) && ok || bad "run with the shipped prior"
shipped=$(realpath "$SRC/configs/lm/prior.ckpt")
digest=$(python3 -c 'import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read(): h = ((h ^ b) * 0x100000001b3) % 2**64
print("%016x" % h)' "$shipped")
op=$(sqlite3 "$tmp/shipped/run.sqlite" "select json_extract(config, '$.operator.builtin') from run")
[[ "$op" == *"\"start\":\"$shipped\""* && "$op" == *"\"start_digest\":\"$digest\""* && "$op" == *'"layers":4'* ]] \
  && ok || bad "--llm-prior shipped does not start from the shipped prior: $op"
# the checkout moved since the run began: the stored path is gone, the shipped prior is found
cp -r "$tmp/shipped" "$tmp/moved"
sqlite3 "$tmp/moved/run.sqlite" "update run set config = json_set(config, '$.operator.builtin.start', '/moved/away/prior.ckpt')"
sqlite3 "$tmp/moved/run.sqlite" "delete from candidates where generation = 1; delete from generations where generation = 1"
rm -rf "$tmp/moved/lm"
"$UHNAS" resume "$tmp/moved" --quiet > /dev/null 2>&1 \
  && [[ $(sqlite3 "$tmp/moved/run.sqlite" "select group_concat(hash || accuracy) from candidates order by id") == \
        $(sqlite3 "$tmp/shipped/run.sqlite" "select group_concat(hash || accuracy) from candidates order by id") ]] \
  && ok || bad "a run whose prior moved did not resume from the shipped one to the same rows"
"$UHNAS" search "${ARGS[@]}" --generations 1 --out "$tmp/unprimed" > /dev/null 2>&1 \
  && [[ $(sqlite3 "$tmp/unprimed/run.sqlite" "select json_extract(config, '$.operator.builtin') from run") != *'"start"'* ]] \
  && ok || bad "the default model of the default sizes started from a prior"
finish
