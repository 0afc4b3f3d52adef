#!/usr/bin/env bash
# bench/strategies.sh — the strategies against each other at matched budgets over many seeds,
# on one shared evaluation cache (issue 16): every (backend, budget, strategy, seed) run goes
# to OUT/BACKEND/cBUDGET/STRATEGY/sSEED, and `uhnas compare` turns each backend and budget
# into OUT/BACKEND-cBUDGET.html, .csv and -curves.csv (hypervolume against evaluations with 95 % bootstrap
# intervals, Mann-Whitney U against random and nsga2, diversity, robustness, cost).
#
# Resumable and incremental: a finished run is skipped, an interrupted one resumed (kill -9
# included), so a session can stop at any time and the next one continues; add seeds or
# strategies later and only they run. Runs go seed by seed, so whatever is finished is
# balanced across strategies. The cache makes a network that two runs meet train once (its
# result is a function of the architecture and the evaluation, not of the run).
#
#   bench/strategies.sh [--out DIR] [--backends LIST] [--budgets LIST] [--strategies LIST]
#                       [--seeds N] [--first-seed N] [--data NAME] [--limit-train N]
#                       [--epochs N] [--mc N] [--jobs N] [--prior FILE] [--prior-edits FILE]
#                       [--uhnas PATH] [--keep DIR] [--report-only]
#
# --keep DIR (bench/results/runs, say) makes the bench outlive its machine: the runs kept there
# are restored into OUT first (finished, so skipped), and each run is kept there as it finishes,
# small (bench/keep_runs.py: the store's rows without weights, its front and the model's calls);
# commit DIR as runs finish and a session on another machine goes on from them.
#
# Strategies: random nsga2 evolution linas llm (the built-in model without a prior)
# llm-noprompt (the same without hardware conditioning: --system-prompt none, the paper's
# ablation) llm-front (the same asking for children both ways along the front, in the run's
# own accuracy deciles: --llm-targets front) llm-classic (the same with half of each
# generation's children made by nsga2's classic operator, crossover included:
# --llm-classic 0.5) llm-parents2 (the same writing each child from two parents in context,
# as crossover pairs them: --llm-parents 2) llm-edits (the same writing each child as edits of
# its parent, copying, skipping or writing each layer: --llm-language edits) llm-edits-parents2
# (edits of two parents, so a crossover is a few COPY and SKIP tokens: --llm-language edits
# --llm-parents 2) llm-steps4 (the model without a prior fine-tuned four times as long each
# generation: --llm-train-steps 160) llm-wide (the model without a prior with twice the channels,
# four times the weights: --llm-width 256) llm-edits-prior (edits from the checkpoint --prior-edits FILE, default
# bench-out/prior/prior-edits.ckpt: bench/prior.sh corpus-edits) llm-prior (the built-in model starting from the
# checkpoint --prior FILE, default configs/lm/prior.ckpt: `search --llm-prior shipped`)
# llm-clean nsga2-clean
# (llm-prior and nsga2 on clean accuracy, --objective clean: the paper's robustness ablation;
# compare pairs each run with its twin on the noisy objective), nsga2-full nsga2-async (nsga2
# without the pruner, in generations and asynchronous: issue 19's hypervolume at equal
# evaluations; give --jobs 2 or more, or the asynchronous run has one worker) and
# nsga2-async-asha (asynchronous with the pruner, against nsga2).
# A budget B is 10 initial candidates + (B - 10) / 10 generations of 10 children.
set -euo pipefail

OUT=bench-out/strategies BACKENDS=mzi-realistic,mzi-worst BUDGETS=70
STRATEGIES=random,nsga2,evolution,linas,llm,llm-noprompt
SEEDS=10 FIRST_SEED=1 DATA=fashion-mnist LIMIT_TRAIN=6000 EPOCHS=2 MC=2 JOBS=0
UHNAS=./build/uhnas REPORT_ONLY=0 PRIOR=configs/lm/prior.ckpt KEEP=
HERE=$(dirname "$(realpath "$0")")
PRIOR_EDITS=bench-out/prior/prior-edits.ckpt

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --out) OUT=$2 ;; --backends) BACKENDS=$2 ;; --budgets) BUDGETS=$2 ;;
    --strategies) STRATEGIES=$2 ;; --seeds) SEEDS=$2 ;; --first-seed) FIRST_SEED=$2 ;;
    --data) DATA=$2 ;; --limit-train) LIMIT_TRAIN=$2 ;; --epochs) EPOCHS=$2 ;; --mc) MC=$2 ;;
    --jobs) JOBS=$2 ;; --uhnas) UHNAS=$2 ;; --prior) PRIOR=$2 ;; --prior-edits) PRIOR_EDITS=$2 ;;
    --keep) KEEP=$2 ;;
    --report-only) REPORT_ONLY=1; shift; continue ;;
    -h|--help) usage; exit 0 ;;
    *) echo "strategies.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  [[ $# -ge 2 ]] || { echo "strategies.sh: $1 needs a value" >&2; exit 2; }
  shift 2
done
for n in "$SEEDS" "$FIRST_SEED" "$LIMIT_TRAIN" "$EPOCHS" "$MC" "$JOBS"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "strategies.sh: not a count: $n" >&2; exit 2; }
done
[[ -x $UHNAS ]] || { echo "strategies.sh: $UHNAS not built (make)" >&2; exit 2; }
mkdir -p "$OUT"
# a run keeps the checkpoint's path: absolute, as search stores it
PRIOR=$(realpath "$PRIOR") PRIOR_EDITS=$(realpath -m "$PRIOR_EDITS")
CACHE=$OUT/cache.sqlite LOG=$OUT/runs.log

# The search options of one strategy label.
strategy_args() {
  case $1 in
    random|nsga2|evolution|linas) echo "--strategy $1" ;;
    llm) echo "--strategy llm --llm-prior none" ;;
    llm-noprompt) echo "--strategy llm --llm-prior none --system-prompt none" ;;
    llm-front) echo "--strategy llm --llm-prior none --llm-targets front" ;;
    llm-classic) echo "--strategy llm --llm-prior none --llm-classic 0.5" ;;
    llm-parents2) echo "--strategy llm --llm-prior none --llm-parents 2" ;;
    llm-edits) echo "--strategy llm --llm-prior none --llm-language edits" ;;
    llm-edits-parents2) echo "--strategy llm --llm-prior none --llm-language edits --llm-parents 2" ;;
    llm-steps4) echo "--strategy llm --llm-prior none --llm-train-steps 160" ;;
    llm-wide) echo "--strategy llm --llm-prior none --llm-width 256" ;;
    llm-edits-prior) echo "--strategy llm --llm-prior $PRIOR_EDITS --llm-language edits" ;;
    llm-prior) echo "--strategy llm --llm-prior $PRIOR" ;;
    llm-clean) echo "--strategy llm --llm-prior $PRIOR --objective clean" ;;
    nsga2-clean) echo "--strategy nsga2 --objective clean" ;;
    nsga2-full) echo "--strategy nsga2 --pruner none" ;;
    nsga2-async) echo "--strategy nsga2 --pruner none --async" ;;
    nsga2-async-asha) echo "--strategy nsga2 --async" ;;
    *) echo "strategies.sh: unknown strategy $1" >&2; return 2 ;;
  esac
}

run_one() { # backend budget label seed
  local dir=$OUT/$1/c$2/$3/s$4 gens=$((($2 - 10) / 10)) t0 t1 how
  [[ -f $dir/front.csv ]] && return 0 # finished
  t0=$(date +%s.%N)
  if [[ -f $dir/run.sqlite ]]; then
    how=resumed
    "$UHNAS" resume "$dir" --jobs "$JOBS" --cache "$CACHE" --quiet > /dev/null
  else
    how=new
    # shellcheck disable=SC2046 # the strategy's options are words
    "$UHNAS" search --backend "$1" $(strategy_args "$3") --seed "$4" --out "$dir" \
      --population 10 --children 10 --generations "$gens" --epochs "$EPOCHS" --mc "$MC" \
      --data "$DATA" --limit-train "$LIMIT_TRAIN" --limit-test 2000 --jobs "$JOBS" \
      --cache "$CACHE" --quiet > /dev/null
  fi
  t1=$(date +%s.%N)
  # with the machine's load at the end (1-minute average): a run's wall and training seconds
  # depend on how many runs shared the cores, so its cost is read beside it
  printf '%s %s c%s %s s%s %s %.1f s load %s\n' "$(date -u +%FT%TZ)" "$1" "$2" "$3" "$4" \
    "$how" "$(echo "$t1 - $t0" | bc)" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$LOG"
  [[ -z $KEEP ]] || "$HERE/keep_runs.py" keep "$OUT" "$KEEP"
}

IFS=, read -ra backends <<< "$BACKENDS"
IFS=, read -ra budgets <<< "$BUDGETS"
IFS=, read -ra labels <<< "$STRATEGIES"
for label in "${labels[@]}"; do
  strategy_args "$label" > /dev/null
  [[ $label != llm-prior || -f $PRIOR ]] || { echo "strategies.sh: no prior $PRIOR (--prior FILE)" >&2; exit 2; }
  [[ $label != llm-edits-prior || -f $PRIOR_EDITS ]] ||
    { echo "strategies.sh: no prior $PRIOR_EDITS (bench/prior.sh corpus-edits; --prior-edits FILE)" >&2; exit 2; }
done
for b in "${budgets[@]}"; do
  [[ $b =~ ^[0-9]+$ && $b -ge 20 && $(((b - 10) % 10)) -eq 0 ]] ||
    { echo "strategies.sh: a budget is 10 + 10 k candidates, k >= 1: $b" >&2; exit 2; }
done

# linas trains the large networks its predictors favour (one run of 70 took 19 min here,
# against ~1 min for the others): it goes in a second pass, so that the other strategies'
# seeds are all done first
[[ -z $KEEP ]] || "$HERE/keep_runs.py" restore "$KEEP" "$OUT"
if ((!REPORT_ONLY)); then
  for pass in fast slow; do
    for ((seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++)); do
      for b in "${budgets[@]}"; do
        for backend in "${backends[@]}"; do
          for label in "${labels[@]}"; do
            slow=fast
            [[ $label == linas ]] && slow=slow
            [[ $slow == "$pass" ]] && run_one "$backend" "$b" "$label" "$seed"
          done
        done
      done
    done
  done
fi

for backend in "${backends[@]}"; do
  for b in "${budgets[@]}"; do
    dirs=()
    for label in "${labels[@]}"; do
      for d in "$OUT/$backend/c$b/$label"/s*; do [[ -f $d/front.csv ]] && dirs+=("$d"); done
    done
    ((${#dirs[@]})) || continue
    "$UHNAS" compare "${dirs[@]}" --group-by-parent --out "$OUT/$backend-c$b.html" \
      --csv "$OUT/$backend-c$b.csv" --curves "$OUT/$backend-c$b-curves.csv"
  done
done
