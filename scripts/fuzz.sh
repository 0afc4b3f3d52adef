#!/usr/bin/env bash
# Runs every fuzz target of a UHNAS_FUZZ build for SECONDS each (make fuzz, make fuzz-smoke):
# its seed corpus (fuzz/corpus/KIND) copied into a scratch directory, its dictionary when it
# has one, one process at a time. A crash, leak or sanitizer report fails the run, and its
# input is kept in BUILD/fuzz-crashes. Prints per target the executions, the coverage (cov:
# edges, ft: features) and the corpus size at the end.
#   scripts/fuzz.sh BUILD SECONDS [TARGET...]   (FUZZ_ARGS: more libFuzzer options)
set -uo pipefail
build=${1:?usage: scripts/fuzz.sh BUILD SECONDS [TARGET...]}
seconds=${2:?usage: scripts/fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in "$src"/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
scratch=$(mktemp -d /tmp/uhnas-fuzz-corpus-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
crashes="$build/fuzz-crashes"
mkdir -p "$crashes"
failed=()
total=0
printf '%-18s %12s %8s %8s %7s\n' target execs cov ft corpus
for t in "${targets[@]}"; do
  kind=${t#fuzz_}
  exe="$build/$t"
  [[ -x $exe ]] || { echo "fuzz: $exe not built" >&2; failed+=("$t"); continue; }
  mkdir -p "$scratch/$kind"
  cp -r "$src/fuzz/corpus/$kind/." "$scratch/$kind/" 2>/dev/null
  args=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2560 -timeout=30
        -artifact_prefix="$crashes/$t-")
  [[ -f $src/fuzz/$kind.dict ]] && args+=(-dict="$src/fuzz/$kind.dict")
  log="$scratch/$t.log"
  # shellcheck disable=SC2086
  "$exe" "${args[@]}" ${FUZZ_ARGS:-} "$scratch/$kind" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  printf '%-18s %12s %8s %8s %7s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "$(ls "$scratch/$kind" | wc -l)"
  total=$((total + ${execs:-0}))
  if [[ $rc -ne 0 ]]; then
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -5 >&2
  fi
done
echo "fuzz: $total executions in all"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $crashes)" >&2
  exit 1
fi
