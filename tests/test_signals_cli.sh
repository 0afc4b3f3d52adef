#!/usr/bin/env bash
# Signals as a user (or a batch system, or a closed terminal) sends them: SIGINT, SIGTERM and
# SIGHUP let the candidates in training finish, exit 1 with a resumable store and say how to
# continue; a second signal exits at once, still resumable; resume then ends with the rows of
# an uninterrupted run. nohup's ignored SIGHUP stays ignored.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 6 --children 3 --generations 2 --epochs 20
      --batch 32 --mc 2 --seed 9 --pruner none --jobs 1)
# twice: candidates long enough (the one training when the first signal comes takes about 0.8 s)
# that the second signal comes while it trains: it is sent as soon as the first one's message
# is out (a fixed pause lost that race on a loaded machine once training got faster)
LONG=(--backend mzi-realistic --data tiny --population 3 --children 1 --generations 2 --epochs 200
      --batch 32 --mc 2 --seed 9 --pruner none --jobs 1)
"$UHNAS" search "${ARGS[@]}" --quiet --out "$tmp/whole" > /dev/null 2>&1 && ok || bad "uninterrupted run"
"$UHNAS" search "${LONG[@]}" --quiet --out "$tmp/whole-twice" > /dev/null 2>&1 && ok \
  || bad "uninterrupted long run"

# stopped SIG [twice]: a run signalled once 2 candidates are stored (twice: a second signal
# right after the first), its exit status, message and resume
stopped() {
  local sig=$1 twice=${2-} dir="$tmp/$1${2:+-twice}" whole="$tmp/whole${2:+-twice}" args=("${ARGS[@]}")
  [[ -n $twice ]] && args=("${LONG[@]}")
  local n_whole
  n_whole=$(rows "$whole")
  "$UHNAS" search "${args[@]}" --out "$dir" > "$dir.out" 2> "$dir.err" &
  local pid=$!
  wait_rows "$dir" 2
  kill -s "$sig" "$pid"
  if [[ -n $twice ]]; then
    for _ in $(seq 1 500); do grep -qs "stopping once" "$dir.err" && break; sleep 0.01; done
    kill -s "$sig" "$pid"
  fi
  wait "$pid"
  local rc=$? n
  n=$(rows "$dir")
  if [[ -n $twice ]]; then
    [[ $rc -gt 128 ]] && ok || bad "second SIG$sig: exit $rc, not the signal's"
  else
    [[ $rc -eq 1 ]] && ok || bad "SIG$sig: exit $rc (want 1): $(cat "$dir.err")"
    grep -q "stopped; every finished candidate is stored. Continue with: uhnas resume" "$dir.err" \
      && ok || bad "SIG$sig: no resume hint: $(cat "$dir.err")"
  fi
  [[ $n -ge 2 && $n -lt $n_whole ]] && ok || bad "SIG$sig${twice:+ twice}: $n rows stored of $n_whole"
  "$UHNAS" resume "$dir" --quiet > /dev/null 2> "$dir.resume" && ok || bad "resume after SIG$sig: $(cat "$dir.resume")"
  same_rows "$whole" "$dir" "resumed after SIG$sig${twice:+ twice}"
}
for sig in INT TERM HUP; do stopped $sig; done
stopped TERM twice

# under nohup a closed terminal does not stop the run
nohup "$UHNAS" search "${ARGS[@]}" --quiet --out "$tmp/nohup" > /dev/null 2>&1 &
pid=$!
wait_rows "$tmp/nohup" 2
kill -s HUP "$pid"
wait "$pid" && ok || bad "a run under nohup stopped on SIGHUP"
[[ $(rows "$tmp/nohup") -eq $(rows "$tmp/whole") ]] && ok || bad "the nohup run has $(rows "$tmp/nohup") rows"
finish
