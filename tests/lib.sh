# What the shell tests share; each sources it first:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# CMake runs tests/test_*.sh with UHNAS (the binary) and UHNAS_SRC (the source tree); by hand,
# from the source tree after a build, the defaults find both.
#
# Not `set -e`: a test counts every failed check (bad) and goes on, so one run reports them all.
set -uo pipefail
UHNAS=${UHNAS:-./build/uhnas}
SRC=${UHNAS_SRC:-.}
if ! command -v "$UHNAS" > /dev/null; then
  echo "FAIL: no uhnas binary at '$UHNAS' (build it, or set UHNAS)"; exit 1
fi
if [[ ! -d "$SRC/configs/backends" ]]; then
  echo "FAIL: '$SRC' is not the uhnas source tree (set UHNAS_SRC)"; exit 1
fi
export UHNAS_BACKENDS="$SRC/configs/backends"

# ---- counting --------------------------------------------------------------------------
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# finish: the last line of a test: the counts, and its exit status
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; }
# skip WHY: the whole test does not apply here
skip() { echo "SKIP: $*"; echo "0 passed, 0 failed"; exit 0; }

# expect CODE NEEDLE CMD...: exit code CODE and NEEDLE somewhere in stdout+stderr.
expect() {
  local want=$1 needle=$2; shift 2
  local out; out=$("$@" 2>&1); local rc=$?
  if [[ $rc -ne $want ]]; then bad "$* → exit $rc, want $want: $out"; return; fi
  if [[ "$out" != *"$needle"* ]]; then bad "$* → output lacks '$needle': $out"; return; fi
  ok
}

# ---- a scratch directory, and processes a test leaves running, both gone at exit -----------
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- runs ---------------------------------------------------------------------------------
# sql DIR QUERY: the rows of QUERY on DIR's store (read-only), fields joined by |
sql() { python3 -c 'import sqlite3,sys; [print("|".join(map(str,r))) for r in sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute(sys.argv[2])]' "$1/run.sqlite" "$2"; }
# sql_write DIR STATEMENT: run STATEMENT on DIR's store and commit it (to damage a run on purpose)
sql_write() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$1/run.sqlite" "$2"; }
# rows DIR: the candidates in DIR's store so far (0 before there is one)
rows() { sql "$1" "select count(*) from candidates" 2> /dev/null || echo 0; }
# csv_rows FILE: the rows of a CSV file with a header
csv_rows() { python3 -c 'import csv,sys; print(len(list(csv.DictReader(open(sys.argv[1])))))' "$1"; }
# wait_rows DIR N [SECONDS]: until DIR's store holds N candidates, at most SECONDS (60)
wait_rows() {
  for _ in $(seq 1 $((${3:-60} * 20))); do [[ $(rows "$1") -ge $2 ]] && break; sleep 0.05; done
}
# rungs DIR: the pruner's stored rung results, a rung a line
rungs() { sql "$1" "select hash, rung, epochs, accuracy, noisy_accuracy from rungs order by hash, rung"; }
# wait_rungs DIR N: until DIR's store holds N rung results (at most 60 s)
wait_rungs() {
  for _ in $(seq 1 1200); do
    [[ $(sql "$1" "select count(*) from rungs" 2> /dev/null || echo 0) -ge $2 ]] && break
    sleep 0.05
  done
}
# kill_at DIR N PID: kill -9 PID once DIR's store holds N candidates (or after 60 s)
kill_at() { wait_rows "$1" "$2"; kill -9 "$3" 2> /dev/null; wait "$3" 2> /dev/null; }

# What two runs that must agree are compared on; a test may name more columns.
ROW_COLUMNS=(id generation origin parents hash accuracy noisy_accuracy energy_nj)
# table DIR: the ROW_COLUMNS of DIR/candidates.csv, a candidate a line
table() {
  python3 - "$1/candidates.csv" "${ROW_COLUMNS[@]}" << 'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(*(r[c] for c in sys.argv[2:]))
PY
}
# same_rows DIR1 DIR2 WHAT: the two runs' tables agree (else the difference, named WHAT)
same_rows() {
  if diff <(table "$1") <(table "$2") > "$tmp/diff"; then ok; else bad "$3 differs: $(cat "$tmp/diff")"; fi
}
