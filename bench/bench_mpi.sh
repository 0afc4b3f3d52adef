#!/usr/bin/env bash
# bench_mpi — the same search with 1 rank (local, one candidate at a time), then under
# mpirun with 2 and 3 ranks (1 and 2 workers), asynchronous (--async) and generational.
# Prints wall time, speed-up, rank 0's share of time spent coordinating (dispatch, receive,
# commit to the store, progress) and the coordination cost per candidate, then the
# efficiency the generational figures predict at 64 and 1024 workers, with the arithmetic.
#   bench/bench_mpi.sh [UHNAS]    (default ./build/uhnas; needs mpirun and an MPI build)
set -euo pipefail
UHNAS=${1:-./build/uhnas}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,tcp \
       OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
"$UHNAS" --version | grep -q "MPI: on" || { echo "bench_mpi: uhnas built without MPI" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ARGS=(--backend mzi-realistic --data fashion-mnist --limit-train 3000 --limit-test 1000
      --population 6 --children 6 --generations 2 --epochs 2 --mc 2 --seed 1)
echo "bench_mpi: ${ARGS[*]}"
# mode NAME EXTRA...: the 1-rank run and the 2- and 3-rank ones of a mode; sets cost and train
mode() {
  local name=$1; shift
  local t0 t1 wall1 wall line share
  t0=$(date +%s.%N)
  "$UHNAS" search "${ARGS[@]}" "$@" --jobs 1 --quiet --out "$tmp/$name-1" > /dev/null
  t1=$(date +%s.%N)
  wall1=$(python3 -c "print($t1 - $t0)")
  n=$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1]))))' "$tmp/$name-1/candidates.csv")
  train=$(python3 -c "print($wall1 / $n)") # a candidate's whole cost: training and measuring
  echo "$name:"
  printf "%6s %10s %9s %22s %20s\n" ranks "wall (s)" speed-up "rank 0 coordinating" "per candidate (ms)"
  printf "%6d %10.1f %9.2f %22s %20s\n" 1 "$wall1" 1 "(it trains itself)" "-"
  for np in 2 3; do
    t0=$(date +%s.%N)
    line=$(mpirun -np "$np" "$UHNAS" search "${ARGS[@]}" "$@" --out "$tmp/$name-$np" 2>&1 | grep '^mpi:')
    t1=$(date +%s.%N)
    wall=$(python3 -c "print($t1 - $t0)")
    share=$(sed -E 's/.*\(([0-9.]+)% of its time.*/\1/' <<< "$line")
    cost=$(sed -E 's/.*, ([0-9.]+) ms per candidate.*/\1/' <<< "$line")
    printf "%6d %10.1f %9.2f %21s%% %20s\n" "$np" "$wall" "$(python3 -c "print($wall1 / $wall)")" "$share" "$cost"
    # a generational run's rows are the same on any number of ranks (an asynchronous one's
    # depend on the order results arrive in)
    [[ $name == async ]] || cmp <(cut -d, -f1-9 "$tmp/$name-1/candidates.csv") \
      <(cut -d, -f1-9 "$tmp/$name-$np/candidates.csv") > /dev/null || echo "  (rows differ from the 1-rank run!)"
  done
}
cost=0 train=0
mode async --async # trains every candidate fully: the generational mode's pruner spares work
mode generational
python3 - "$cost" "$train" "$n" <<'PY'
import sys
c = float(sys.argv[1]) / 1000   # rank 0's seconds per candidate
t = float(sys.argv[2])          # seconds per candidate, training and measuring (1-rank run)
print("\nestimate: a candidate costs t = %.2f s (1-rank wall / %s candidates); rank 0 spends c = %.1f ms" % (t, sys.argv[3], c * 1000))
print("per candidate, so it can feed at most t / c = %.0f busy workers." % (t / c))
for w in (64, 1024):
    e = min(1.0, t / (w * c))
    print("  W = %4d: efficiency <= min(1, t / (W c)) = min(1, %.2f / (%d x %.4f)) = %.0f%%" % (w, t, w, c, 100 * e))
t20 = t * 10 * 20 / 2  # 10x the data (30,000 vs 3,000 samples), 20 epochs instead of 2
print("at the paper's budget (10x the data, 20 epochs: t about %.0f s) rank 0 feeds %.0f workers;" % (t20, t20 / c))
print("a generational search also needs children per generation >= W: with 8 children only")
print("8 workers are ever busy (efficiency 8 / W = %.1f%% at 64, %.2f%% at 1024)." % (800 / 64, 800 / 1024))
PY
