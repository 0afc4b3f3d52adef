#!/usr/bin/env bash
# uhnas search under mpirun: the same rows as a serial run (ids, hashes, accuracies, energy,
# latency, area), per-worker statistics in the store, and a killed MPI job resumed (under
# mpirun and without) to the same result. Skipped, with a message, when uhnas was built
# without MPI, when mpirun is missing, or under the sanitizers (Open MPI's runtime keeps
# memory LeakSanitizer counts).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if ! "$UHNAS" --version | grep -q "MPI: on"; then skip "uhnas built without MPI"; fi
if ! command -v mpirun > /dev/null; then skip "no mpirun (Debian: openmpi-bin)"; fi
if [[ -n "${UHNAS_SANITIZED:-}" ]]; then skip "MPI under the sanitizers"; fi
# containers run tests as root; the shared-memory transport needs more than they allow
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,tcp \
       OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
if ! timeout 60 mpirun -np 2 true > /dev/null 2>&1; then
  skip "mpirun cannot start two processes here"
fi
# kill_job PID DIR: kill -9 the MPI job started with setsid as PID, and any rank of it on
# DIR still alive (ranks may sit in process groups of their own)
kill_job() {
  kill -9 -- -"$1" 2> /dev/null; wait "$1" 2> /dev/null
  for _ in $(seq 1 100); do
    pgrep -f -- "$2" > /dev/null || break
    pkill -9 -f -- "$2"; sleep 0.1
  done
}
LOUD=(--backend mzi-realistic --data tiny --population 4 --children 3 --generations 8
      --epochs 1 --batch 32 --mc 2 --seed 11)
ARGS=("${LOUD[@]}" --quiet)
ROW_COLUMNS=(id generation origin parents status hash accuracy noisy_accuracy energy_nj latency_ns area_mm2
             test_accuracy)

"$UHNAS" search "${ARGS[@]}" --jobs 1 --out "$tmp/serial" > /dev/null 2>&1 && ok || bad "serial run"
out=$(timeout 300 mpirun -np 3 "$UHNAS" search "${ARGS[@]}" --out "$tmp/mpi" 2>&1)
[[ $? -eq 0 ]] && ok || bad "mpirun -np 3: $out"
same_rows "$tmp/serial" "$tmp/mpi" "MPI run"
python3 - "$tmp/mpi/run.sqlite" <<'PY' && ok || bad "no per-worker statistics in the store"
import json, sqlite3, sys
state = json.loads(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("select state from generations where generation = 8").fetchone()[0])
ranks = state["workers"]["ranks"]
assert [r["rank"] for r in ranks] == [1, 2] and all(r["idle_s"] >= 0 for r in ranks), state
PY
out=$(timeout 300 mpirun -np 3 "$UHNAS" search "${LOUD[@]}" --out "$tmp/loud" 2>&1)
[[ "$out" == *"worker 2:"*"per minute, idle"* && "$out" == *"ms per candidate"* ]] && ok || bad "no worker lines in: $out"

# a usage error on rank 0 does not leave the workers waiting
out=$(timeout 60 mpirun -np 3 "$UHNAS" search --backend no-such-backend 2>&1)
rc=$?
[[ $rc -ne 0 && $rc -ne 124 && "$out" == *"no-such-backend"* ]] && ok || bad "usage error under mpirun ($rc): $out"

# a worker computing with other OpenBLAS kernels than rank 0 would make a row depend on the
# rank that trained it: refused before any candidate, naming the worker and the fix
own=$("$UHNAS" --version | sed -n 's/.*OpenBLAS, \([A-Za-z0-9]*\) kernels.*/\1/p')
other=Sandybridge; [[ $own == Sandybridge ]] && other=Nehalem
out=$(timeout 120 mpirun -np 2 "$UHNAS" search "${ARGS[@]}" --out "$tmp/kernels" : \
        -np 1 env OPENBLAS_CORETYPE=$other "$UHNAS" search "${ARGS[@]}" --out "$tmp/kernels" 2>&1)
rc=$?
[[ $rc -ne 0 && $rc -ne 124 && "$out" == *"worker 2 computes with OpenBLAS's $other kernels and rank 0 with $own"*"OPENBLAS_CORETYPE=$own"* ]] \
  && ok || bad "a worker with $other kernels ($rc): $out"
[[ $(rows "$tmp/kernels") -eq 0 ]] && ok || bad "candidates trained beside a worker with other kernels"
OPENBLAS_CORETYPE=$own timeout 300 mpirun -np 3 "$UHNAS" resume "$tmp/kernels" --quiet > "$tmp/resume.log" 2>&1 \
  && ok || bad "resume once every rank has the kernels: $(cat "$tmp/resume.log")"
same_rows "$tmp/serial" "$tmp/kernels" "run resumed with every rank's kernels"

# kill the whole MPI job mid-run, then resume under mpirun, and a second one without it
for how in mpi serial; do
  setsid mpirun -np 3 "$UHNAS" search "${ARGS[@]}" --out "$tmp/killed-$how" > /dev/null 2>&1 &
  pid=$!
  wait_rows "$tmp/killed-$how" 5 120
  kill_job "$pid" "$tmp/killed-$how"
  n=$(rows "$tmp/killed-$how")
  [[ $n -ge 5 && $n -lt 28 ]] && ok || bad "killed $how run has $n rows"
  if [[ $how == mpi ]]; then
    timeout 300 mpirun -np 2 "$UHNAS" resume "$tmp/killed-$how" --quiet > "$tmp/resume.log" 2>&1 && ok || bad "resume under mpirun: $(cat "$tmp/resume.log")"
  else
    "$UHNAS" resume "$tmp/killed-$how" --quiet > "$tmp/resume.log" 2>&1 && ok || bad "resume: $(cat "$tmp/resume.log")"
  fi
  same_rows "$tmp/serial" "$tmp/killed-$how" "resumed $how run"
done

# the pruner on workers: each rung is a job sent with the weights it continues from; the same
# rows and rungs as a serial run, and kill -9 of the job between rungs, then resume under
# mpirun, ends with them too
PRUNED=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 3
        --epochs 27 --batch 32 --mc 2 --seed 3 --quiet --pruner asha)
ROW_COLUMNS+=(status epochs_trained)
"$UHNAS" search "${PRUNED[@]}" --jobs 1 --out "$tmp/asha-serial" > /dev/null 2>&1 && ok \
  || bad "serial run with the pruner"
out=$(timeout 300 mpirun -np 3 "$UHNAS" search "${PRUNED[@]}" --out "$tmp/asha-mpi" 2>&1)
[[ $? -eq 0 ]] && ok || bad "mpirun -np 3 with the pruner: $out"
same_rows "$tmp/asha-serial" "$tmp/asha-mpi" "MPI run with the pruner"
[[ "$(rungs "$tmp/asha-serial")" == "$(rungs "$tmp/asha-mpi")" ]] && ok || bad "MPI rungs differ"
setsid mpirun -np 3 "$UHNAS" search "${PRUNED[@]}" --out "$tmp/asha-killed" > /dev/null 2>&1 &
pid=$!
wait_rungs "$tmp/asha-killed" 7
kill_job "$pid" "$tmp/asha-killed"
n=$(sql "$tmp/asha-killed" "select count(*) from rungs")
[[ $n -ge 7 && $n -lt $(sql "$tmp/asha-serial" "select count(*) from rungs") ]] && ok \
  || bad "the kill did not land between the rungs ($n rungs stored)"
timeout 300 mpirun -np 3 "$UHNAS" resume "$tmp/asha-killed" --quiet > "$tmp/resume.log" 2>&1 \
  && ok || bad "resume with the pruner under mpirun: $(cat "$tmp/resume.log")"
same_rows "$tmp/asha-serial" "$tmp/asha-killed" "killed MPI run with the pruner, resumed"
[[ "$(rungs "$tmp/asha-serial")" == "$(rungs "$tmp/asha-killed")" ]] && ok \
  || bad "resumed MPI rungs differ"

# --async under mpirun (uhnas/search.h, "Asynchronous steady state"): a free rank gets a child
# of the population as it stands; the budget completes and the record merges each result once
ASYNC=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 30
       --epochs 3 --batch 32 --mc 2 --seed 5 --async --pruner none --quiet)
ASYNC_BUDGET=96
# merged_once DIR: every candidate of DIR is in its merge record once
merged_once() {
  python3 - "$1/run.sqlite" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
merged = [i for (s,) in db.execute("select state from generations order by generation") for i in json.loads(s)["merged"]]
ids = [i for (i,) in db.execute("select id from candidates where status != 'invalid' order by id")]
assert sorted(merged) == ids, (merged, ids)
PY
}
out=$(timeout 300 mpirun -np 3 "$UHNAS" search "${ASYNC[@]}" --out "$tmp/async" 2>&1)
[[ $? -eq 0 ]] && ok || bad "mpirun -np 3 --async: $out"
[[ $(rows "$tmp/async") -eq $ASYNC_BUDGET ]] && ok || bad "async MPI run has $(rows "$tmp/async") rows"
merged_once "$tmp/async" && ok || bad "async MPI merge record"
# its progress shows the workers every --children candidates (there are no generations)
out=$(timeout 300 mpirun -np 3 "$UHNAS" search "${LOUD[@]}" --async --out "$tmp/async-loud" 2>&1)
[[ $(grep -c "worker 2:" <<< "$out") -ge 3 ]] && ok || bad "async progress has no worker lines: $out"
"$UHNAS" report "$tmp/async" --out "$tmp/async.html" > /dev/null 2>&1 && ok || bad "report of the async MPI run"
python3 - "$tmp/async.html" <<'PY' && ok || bad "the report lacks the workers' table"
import re, sys
s = open(sys.argv[1]).read()
assert "asynchronous steady state" in s, "no async summary"
rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td><td>[0-9.]+</td><td>[0-9.]+</td><td>\d+ %</td></tr>", s[s.index("<h2>Workers</h2>"):])
assert [r for r, _ in rows] == ["1", "2"] and sum(int(c) for _, c in rows) == 96, rows
PY

# kill -9 of the whole job, and of a single worker (Open MPI then ends the job), each resumed
# under mpirun: nothing stored is trained again, and the budget completes
# rank_pid DIR RANK: the pid of the process of that rank working on DIR
rank_pid() {
  for p in $(pgrep -f -- "$1"); do
    tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}
for what in job worker; do
  d=$tmp/async-killed-$what
  setsid mpirun -np 3 "$UHNAS" search "${ASYNC[@]}" --out "$d" > /dev/null 2>&1 &
  pid=$!
  wait_rows "$d" 8 120
  if [[ $what == worker ]]; then
    kill -9 "$(rank_pid "$d" 2)" 2> /dev/null
    for _ in $(seq 1 600); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  fi
  kill_job "$pid" "$d"
  sql "$d" "select id, hash, noisy_accuracy from candidates order by id" > "$tmp/before"
  n=$(wc -l < "$tmp/before")
  [[ $n -ge 8 && $n -lt $ASYNC_BUDGET ]] && ok || bad "async run, $what killed, has $n rows"
  timeout 300 mpirun -np 3 "$UHNAS" resume "$d" --quiet --json > "$tmp/resume.json" 2> "$tmp/resume.log" \
    && ok || bad "resume after the $what was killed: $(cat "$tmp/resume.log")"
  python3 - "$tmp/resume.json" "$n" $ASYNC_BUDGET <<'PY' && ok || bad "resume after the $what was killed trained stored candidates again: $(cat "$tmp/resume.json")"
import json, sys
out, n, budget = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
assert out["reused"] == n and out["trained"] == budget - n, out
PY
  [[ $(rows "$d") -eq $ASYNC_BUDGET ]] && ok || bad "resumed ($what killed): $(rows "$d") rows"
  sql "$d" "select id, hash, noisy_accuracy from candidates order by id" > "$tmp/after"
  [[ -z $(comm -23 <(sort "$tmp/before") <(sort "$tmp/after")) ]] && ok || bad "rows stored before the $what was killed changed"
  merged_once "$d" && ok || bad "merge record after the $what was killed"
done

# the pruner, asynchronous, on workers: each rung a job sent with the weights it continues
# from; kill -9 of the job, resumed under mpirun: no stored rung trained again, the budget
PASYNC=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 30
        --epochs 9 --batch 32 --mc 2 --seed 5 --async --pruner asha --quiet)
d=$tmp/async-pruner
setsid mpirun -np 3 "$UHNAS" search "${PASYNC[@]}" --out "$d" > /dev/null 2>&1 &
pid=$!
wait_rungs "$d" 12
kill_job "$pid" "$d"
rungs "$d" > "$tmp/before"
n=$(rows "$d")
[[ $(wc -l < "$tmp/before") -ge 12 && $n -lt $ASYNC_BUDGET ]] && ok || bad "async pruner run killed with $n rows"
timeout 300 mpirun -np 3 "$UHNAS" resume "$d" --quiet > "$tmp/resume.log" 2>&1 \
  && ok || bad "resume of the async pruner run under mpirun: $(cat "$tmp/resume.log")"
[[ $(rows "$d") -eq $ASYNC_BUDGET ]] && ok || bad "resumed async pruner run: $(rows "$d") rows"
[[ -z $(comm -23 <(sort "$tmp/before") <(rungs "$d" | sort)) ]] && ok || bad "rungs stored before the kill changed"
python3 - "$d/run.sqlite" <<'PY' && ok || bad "async pruner record under MPI"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
merged = [tuple(e) for (s,) in db.execute("select state from generations order by generation") for e in json.loads(s)["merged"]]
stored = [(i, g) for i, g in db.execute("select c.id, r.rung from rungs r join candidates c on c.hash = r.hash")]
assert sorted(merged) == sorted(stored), (len(merged), len(stored))
PY

finish
