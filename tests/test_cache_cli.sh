#!/usr/bin/env bash
# The evaluation cache (`--cache FILE`, uhnas/cache.h) as users share it: a second run of the
# same search answers every candidate from it and stores the rows (and test results) of the
# first; another backend file or evaluation misses; runs in two processes fill one cache at
# once; kill -9 leaves it whole and resume ends with the uninterrupted rows; a damaged entry
# is trained again; a file that is not a cache is refused before a run directory exists.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROW_COLUMNS=(id generation origin parents hash accuracy noisy_accuracy energy_nj train_seconds status epochs_trained)
ARGS=(--data tiny --backend mzi-worst --population 4 --children 2 --generations 3 --epochs 3
      --seed 5 --jobs 2 --json)
cache="$tmp/cache.sqlite"
# count FILE FIELD: a field of a --json result
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
entries() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from entries").fetchone()[0])' "$cache"; }
tests_of() { sql "$1" "select hash, accuracy, noisy_accuracy from test_results order by hash"; }

# a first run fills the cache; the same search again trains nothing and stores the same rows
"$UHNAS" search "${ARGS[@]}" --cache "$cache" --out "$tmp/first" > "$tmp/first.json" 2> /dev/null \
  && ok || bad "first run"
[[ $(field "$tmp/first.json" cached) -eq 0 && $(field "$tmp/first.json" trained) -eq 10 ]] && ok \
  || bad "first run: $(cat "$tmp/first.json")"
n_entries=$(entries)
[[ $n_entries -ge 10 ]] && ok || bad "cache holds $n_entries entries after 10 candidates"
"$UHNAS" search "${ARGS[@]}" --cache "$cache" --out "$tmp/again" > "$tmp/again.json" 2> "$tmp/again.log" \
  && ok || bad "second run"
[[ $(field "$tmp/again.json" cached) -eq 10 && $(field "$tmp/again.json" trained) -eq 0 ]] && ok \
  || bad "second run: $(cat "$tmp/again.json")"
grep -q "(cached)" "$tmp/again.log" && ok || bad "progress does not say (cached)"
same_rows "$tmp/first" "$tmp/again" "a run answered from the cache"
[[ "$(tests_of "$tmp/first")" == "$(tests_of "$tmp/again")" && -n "$(tests_of "$tmp/first")" ]] \
  && ok || bad "the cached run's test results differ"
[[ $(entries) -eq $n_entries ]] && ok || bad "hits were added again: $(entries) entries"
"$UHNAS" report "$tmp/again" > /dev/null && grep -q "10 answered from an evaluation cache" "$tmp/again/report.html" \
  && ok || bad "the report does not count the cached candidates"
# without the pruner too: a second run of it is all hits
"$UHNAS" search "${ARGS[@]}" --pruner none --cache "$cache" --out "$tmp/none1" > "$tmp/none1.json" 2> /dev/null
"$UHNAS" search "${ARGS[@]}" --pruner none --cache "$cache" --out "$tmp/none2" --jobs 1 > "$tmp/none2.json" 2> /dev/null
[[ $(field "$tmp/none1.json" cached) -eq 0 && $(field "$tmp/none2.json" cached) -eq 10 ]] && ok \
  || bad "pruner none: $(cat "$tmp/none1.json" "$tmp/none2.json")"
same_rows "$tmp/none1" "$tmp/none2" "a run without the pruner answered from the cache"

# another evaluation (epochs) or another backend file (one number changed) misses
"$UHNAS" search "${ARGS[@]}" --epochs 2 --cache "$cache" --out "$tmp/epochs" > "$tmp/epochs.json" 2> /dev/null
[[ $(field "$tmp/epochs.json" cached) -eq 0 ]] && ok || bad "other epochs hit: $(cat "$tmp/epochs.json")"
sed 's/"name": *"mzi-worst"/"name": "mzi-edited"/' "$SRC/configs/backends/mzi-worst.json" > "$tmp/edited.json"
cmp -s "$tmp/edited.json" "$SRC/configs/backends/mzi-worst.json" && bad "the backend edit changed nothing"
"$UHNAS" search "${ARGS[@]/mzi-worst/$tmp/edited.json}" --cache "$cache" --out "$tmp/edited" > "$tmp/edited.out" 2> /dev/null
[[ $(field "$tmp/edited.out" cached) -eq 0 ]] && ok || bad "an edited backend hit: $(cat "$tmp/edited.out")"

# other OpenBLAS kernels miss (their floats differ in the last digits: not this machine's
# result), and the run says which computed it; resumed with others, it warns. Sandybridge's
# kernels run on any x86-64 CPU with AVX; elsewhere (no such kernels) this part is passed over.
other=(env OPENBLAS_CORETYPE=Sandybridge)
if [[ $("$UHNAS" --version) != *"Sandybridge kernels"* ]] &&
   "${other[@]}" "$UHNAS" --version | grep -q "Sandybridge kernels"; then
  "${other[@]}" "$UHNAS" search "${ARGS[@]}" --cache "$cache" --out "$tmp/kernels" > "$tmp/kernels.json" 2> /dev/null
  [[ $(field "$tmp/kernels.json" cached) -eq 0 ]] && ok || bad "other kernels hit: $(cat "$tmp/kernels.json")"
  [[ $(sql "$tmp/kernels" "select json_extract(config, '$.blas_kernels') from run") == Sandybridge ]] \
    && ok || bad "the run does not name its kernels"
  "$UHNAS" resume "$tmp/kernels" --quiet > /dev/null 2> "$tmp/kernels.log"
  grep -q "measured with OpenBLAS's Sandybridge kernels and this machine computes with" "$tmp/kernels.log" \
    && ok || bad "resumed with other kernels, no warning: $(cat "$tmp/kernels.log")"
  "${other[@]}" "$UHNAS" resume "$tmp/kernels" --quiet > /dev/null 2> "$tmp/kernels.log"
  [[ ! -s "$tmp/kernels.log" ]] && ok || bad "resumed with its own kernels: $(cat "$tmp/kernels.log")"
fi

# two processes at once on a new cache, then a third run: all hits, the same rows
shared="$tmp/shared.sqlite"
"$UHNAS" search "${ARGS[@]}" --seed 8 --cache "$shared" --out "$tmp/p1" > "$tmp/p1.json" 2> "$tmp/p1.err" &
p1=$!
"$UHNAS" search "${ARGS[@]}" --seed 9 --cache "$shared" --out "$tmp/p2" > "$tmp/p2.json" 2> "$tmp/p2.err" &
p2=$!
wait $p1 && wait $p2 && ok || bad "concurrent runs: $(cat "$tmp/p1.err" "$tmp/p2.err")"
"$UHNAS" search "${ARGS[@]}" --seed 9 --cache "$shared" --out "$tmp/p3" > "$tmp/p3.json" 2> /dev/null
[[ $(field "$tmp/p3.json" cached) -eq 10 ]] && ok || bad "after concurrent writers: $(cat "$tmp/p3.json")"
same_rows "$tmp/p2" "$tmp/p3" "a run answered from a cache two processes wrote"

# from here on runs train again some of what the first trained: its time is not theirs
ROW_COLUMNS=(id generation origin parents hash accuracy noisy_accuracy energy_nj status epochs_trained)

# kill -9 mid-run; the cache opens and the run resumes (with it) to the uninterrupted rows
killed="$tmp/killed.sqlite"
"$UHNAS" search "${ARGS[@]}" --cache "$killed" --out "$tmp/k" > /dev/null 2>&1 &
pid=$!
pids+=("$pid")
kill_at "$tmp/k" 5 "$pid"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); assert c.execute("pragma integrity_check").fetchone()[0] == "ok"' "$killed" \
  && ok || bad "the cache is damaged after kill -9"
"$UHNAS" resume "$tmp/k" --cache "$killed" --quiet > /dev/null 2> "$tmp/k.err" && ok || bad "resume: $(cat "$tmp/k.err")"
same_rows "$tmp/first" "$tmp/k" "a run killed and resumed with a cache"

# a damaged entry (its weights) is a miss: trained again, with the same rows
cp "$cache" "$tmp/damaged.sqlite"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update entries set data = zeroblob(length(data))"); c.commit()' "$tmp/damaged.sqlite"
"$UHNAS" search "${ARGS[@]}" --cache "$tmp/damaged.sqlite" --out "$tmp/damaged" > "$tmp/damaged.json" 2> /dev/null \
  && ok || bad "run on a damaged cache"
[[ $(field "$tmp/damaged.json" cached) -eq 0 ]] && ok || bad "damaged entries hit: $(cat "$tmp/damaged.json")"
same_rows "$tmp/first" "$tmp/damaged" "a run whose cache entries were damaged"

# not a cache: refused, naming the file, before the run directory exists
head -c 4096 /dev/urandom > "$tmp/noise"
expect 1 "$tmp/noise: not a uhnas evaluation cache: not an SQLite database" "$UHNAS" search "${ARGS[@]}" --cache "$tmp/noise" --out "$tmp/never"
expect 1 "not a uhnas evaluation cache" "$UHNAS" search "${ARGS[@]}" --cache "$tmp/first/run.sqlite" --out "$tmp/never"
[[ ! -e "$tmp/never" ]] && ok || bad "a refused cache left a run directory"
expect 1 "must be a file" "$UHNAS" search "${ARGS[@]}" --cache "$tmp" --out "$tmp/never"
finish
