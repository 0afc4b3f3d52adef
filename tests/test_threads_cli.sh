#!/usr/bin/env bash
# Threads on a shared machine as a user meets them: waiting threads that sleep unless the user
# chose a policy, and a warning when asked for more threads than free cores. No timing
# (bench/threads_loaded.sh measures it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MLP='{"layers":[{"type":"dense","units":16,"activation":"relu"},{"type":"dense","units":4}]}'
train() { "$UHNAS" train --data tiny --arch "$MLP" --epochs 1 --json "$@"; }
more=$(($(nproc) + 1)) # always more than the free cores

# The warning: for --threads and for OMP_NUM_THREADS, and the run still goes on.
want="$more threads asked for, more than the free cores"
expect 0 "$want" train --threads "$more"
expect 0 "$want" env OMP_NUM_THREADS="$more" "$UHNAS" train --data tiny --arch "$MLP" --epochs 1
for args in "--threads 1" ""; do # one thread, or the free cores: no warning
  out=$(train $args 2>&1 > /dev/null)
  [[ -z "$out" ]] && ok || bad "train $args warned: $out"
done
[[ "$("$UHNAS" train --help)" == *"--threads N"*"the cores no other process holds"* ]] && ok ||
  bad "train --help does not say what --threads defaults to"

# Passive waiting: libgomp reads its environment when loaded, so uhnas runs itself again with
# OMP_WAIT_POLICY=passive; OMP_DISPLAY_ENV shows one block per program image that started.
blocks() { env "$@" OMP_DISPLAY_ENV=true "$UHNAS" --version 2>&1 | grep -c 'DISPLAY ENVIRONMENT BEGIN'; }
if [[ $(blocks GOMP_SPINCOUNT=1000) -eq 1 ]]; then # an OpenMP runtime that says so: libgomp
  [[ $(blocks X=1) -eq 2 ]] && ok || bad "uhnas did not run itself again with a passive policy"
  out=$(env OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=true "$UHNAS" --version 2>&1)
  [[ $(grep -c 'DISPLAY ENVIRONMENT BEGIN' <<< "$out") -eq 1 && "$out" == *"OMP_WAIT_POLICY = 'ACTIVE'"* ]] &&
    ok || bad "the user's OMP_WAIT_POLICY=active was not kept: $out"
fi
expect 0 "uhnas" "$UHNAS" --version # the second image gets the same arguments

finish
