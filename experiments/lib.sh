# Shared by the experiment scripts: options, the uhnas binary, budgets.
#   --paper            the paper's budget (population 20, 8 children, 30 generations, 20 epochs,
#                      all of the data, mc 5); default: a small budget that ends in minutes
#   --out DIR          where runs and reports go (default experiments/out/NAME)
#   --seeds N          seeds per configuration (default 3 small, 5 paper)
#   --data NAME        dataset (default: mnist when its files are there, else fashion-mnist)
#   --llm-url URL --llm-model NAME | --llm-replay FILE
#                      a language model for the llm and llmatic strategies
set -euo pipefail
# usage: the calling script's header comment, then the options above
usage() {
  local header='NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }'
  awk "$header" "$0"
  printf '\nOptions:\n'
  awk "$header" "${BASH_SOURCE[0]}"
}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UHNAS=${UHNAS:-$ROOT/build/uhnas}
[[ -x "$UHNAS" ]] || make -C "$ROOT" build >/dev/null
PAPER=0 OUT="" SEEDS="" DATA="" LLM=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --paper) PAPER=1 ;;
    --out) OUT=$2; shift ;;
    --seeds) SEEDS=$2; shift ;;
    --data) DATA=$2; shift ;;
    --llm-url|--llm-model|--llm-replay) LLM+=("$1" "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$(basename "$0"): unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
NAME=$(basename "$0" .sh)
OUT=${OUT:-$ROOT/experiments/out/$NAME}
mkdir -p "$OUT"
if [[ -z "$DATA" ]]; then
  DATA=fashion-mnist
  "$UHNAS" train --data mnist --limit-train 1 --limit-test 1 --epochs 1 \
    --arch '{"layers":[{"type":"dense","units":10}]}' >/dev/null 2>&1 && DATA=mnist
fi
if [[ $PAPER -eq 1 ]]; then
  SEEDS=${SEEDS:-5}
  BUDGET=(--data "$DATA" --population 20 --children 8 --generations 30 --epochs 20 --mc 5)
else
  SEEDS=${SEEDS:-3}
  BUDGET=(--data "$DATA" --population 8 --children 4 --generations 3 --epochs 1 --mc 2
          --limit-train 6000 --limit-test 2000)
fi
echo "$NAME: $( [[ $PAPER -eq 1 ]] && echo paper || echo small ) budget on $DATA, $SEEDS seed(s), into $OUT" >&2

# run DIR ARGS...: a search into DIR, resumed when DIR already holds an unfinished run
run() {
  local dir=$1; shift
  if [[ -e "$dir/run.sqlite" ]]; then
    "$UHNAS" resume "$dir" --quiet
  else
    "$UHNAS" search "${BUDGET[@]}" "$@" --out "$dir" --quiet
  fi >/dev/null
}

# hv_table DIR...: final hypervolume per strategy (mean ± std over the runs), as text
hv_table() {
  python3 - "$@" <<'PY'
import json, sqlite3, statistics, sys
by = {}
for d in sys.argv[1:]:
    db = sqlite3.connect("file:%s/run.sqlite?mode=ro" % d, uri=True)
    cfg = json.loads(db.execute("select config from run").fetchone()[0])
    hv = db.execute("select hypervolume from generations order by generation desc limit 1").fetchone()[0]
    name = cfg["strategy"]
    op = cfg.get("operator", {})  # language-model runs differ by their system prompt
    if "llm" in op:
        name += "/" + op["llm"]["system_prompt"]
    elif "builtin" in op:  # the built-in model: hardware tokens in its context, or none
        name += "/builtin-" + ("hardware" if op["builtin"]["hardware_tokens"] else "none")
    by.setdefault(name, []).append(hv)
print("%-20s %5s %22s" % ("strategy", "runs", "final HV mean ± std"))
for s, v in by.items():
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    print("%-20s %5d %14.4f ± %.4f" % (s, len(v), statistics.mean(v), sd))
PY
}
