#!/usr/bin/env python3
"""bench/strategy_runs.py — the strategy bench's runs one by one (bench/strategies.sh).

  bench/strategy_runs.py [--uhnas PATH] [--at N,...] [--origins] [--parents] [--ends] [--model]
                         [--merge CSV] [--also CSV] [--power N,...]
                         OUT BACKEND BUDGET [LABEL_A LABEL_B]

Writes one line per finished run of OUT/BACKEND/cBUDGET/*/s* (label, seed, the final
hypervolume and the hypervolume after the first N candidates for each --at N; `uhnas compare`
of that run alone, so the figures are the report's) as CSV on standard output. With two labels
it also prints, on standard error, each label's mean and the exact two-sided Mann-Whitney U
test of the two, on the final hypervolume and at each --at N: a pairing that the bench's page
(p against random and nsga2 only) does not give. Small enough to keep in the repository
(bench/results/), so that the figures in docs/strategies.md outlive the machine that ran them:
--merge CSV keeps that file's lines for every run not found under OUT (a run directory lost with
its machine, say) and writes the union, so a new machine's runs add to the kept ones and the test
below pools both (the curve-based figure, how soon a label reaches another's final mean, only
when every run of the label is under OUT).
With --also CSV (a longer budget's per-run CSV, e.g. bench/results/strategies-B-c150.csv
beside budget 70) its runs count too, each with its hypervolume after this budget's
candidates as its final one: the same seed's shorter run would have made the same draws and
decisions, so it would end there.
With --power N,... and two labels it also estimates, at each of those figures, how often N
seeds a side would give p < 0.05 (runs drawn with replacement from those measured): how many
seeds a difference of the size measured needs.
With --origins it prints, on standard error, where each label's children came from (origin:
share of the children after the first population, share of the final fronts' points): which
kinds of child the fronts are made of. With --parents it prints how the built-in model's
children relate to their parents (lm/calls.jsonl): each child's layers (type, width, kernel,
pool) against its first parent's and a partner's (its second parent; for a one-parent child
the next child's parent in the call, the partner two parents would have shown), by difflib's
ratio: the share closer to each, and the share holding layers found only in the first parent
and layers found only in the partner (a crossover would), and its mean similarity to the first
parent (difflib's ratio, 1 for a copy); the classic crossovers of --llm-classic runs likewise,
for a reference.
With --ends it prints, per label, what its runs measured at either end of the front (means over
the finished runs): the most accurate network (noisy accuracy), the cheapest network at
--accurate A noisy accuracy or more (log10 nJ; default 0.75), and the share of the children
trained in full (after the first population) that learnt nothing, within 0.05 of chance
(1 / the last layer's units): trainings that add nothing to the hypervolume.
With --model it prints, per label of the built-in model, how its fine-tuning went (means over
the finished runs, from lm/calls.jsonl): the examples it learnt from at the last call, its
training loss (mean over the calls), re-samples and classic fallbacks a run, its own seconds a
run, and the share of its trained children cheaper than their first parent (every child asks
for one energy decile less): whether it learnt the run's rule or its examples.
"""
import argparse
import csv
import glob
import itertools
import collections
import difflib
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile


def run_figures(uhnas, run, at):
    """Final hypervolume, the hypervolume after each of `at` candidates, and the whole curve
    (hypervolume after n candidates, n = 1..), of one run."""
    with tempfile.TemporaryDirectory() as t:
        subprocess.run([uhnas, "compare", run, "--out", t + "/page.html", "--csv", t + "/runs.csv",
                        "--curves", t + "/curves.csv"], check=True, capture_output=True)
        with open(t + "/runs.csv") as f:
            final = float(next(csv.DictReader(f))["final_hypervolume_mean"])
        with open(t + "/curves.csv") as f:
            curve = {int(r["evaluations"]): float(r["mean_hypervolume"]) for r in csv.DictReader(f)}
    return [final] + [curve.get(n, float("nan")) for n in at], curve


def u_statistic(a, b):
    return sum((ai > bi) + 0.5 * (ai == bi) for ai in a for bi in b)


def u_distribution(n, m):
    """How many of the C(n + m, n) splits of n + m distinct values give each U (0..n*m):
    f(n, m, u) = f(n - 1, m, u - m) + f(n, m - 1, u), by the largest value's side."""
    f = [[[1] + [0] * (n * m) for _ in range(m + 1)] for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            f[i][j] = [(f[i - 1][j][u - j] if u >= j else 0) + f[i][j - 1][u]
                       for u in range(n * m + 1)]
    return f[n][m]


def tail_share(counts, d):
    """The share of splits (counts = u_distribution) whose U is at least d from the middle."""
    mid = (len(counts) - 1) / 2
    return sum(c for u, c in enumerate(counts) if abs(u - mid) >= d - 1e-12) / sum(counts)


def mann_whitney(x, y):
    """U of x against y and its exact two-sided p over every split of the pooled values: by
    counting when no two values tie, by enumeration when some do."""
    u0, n, m = u_statistic(x, y), len(x), len(y)
    mid = n * m / 2
    if len(set(x + y)) == n + m:
        return u0, tail_share(u_distribution(n, m), abs(u0 - mid))
    pool = x + y
    splits = list(itertools.combinations(range(n + m), n))
    far = 0
    for c in splits:
        chosen = set(c)
        e = u_statistic([pool[i] for i in c], [pool[i] for i in range(n + m) if i not in chosen])
        far += abs(e - mid) >= abs(u0 - mid) - 1e-12
    return u0, far / len(splits)


def power(x, y, n, draws=2000, alpha=0.05, seed=1):
    """The share of `draws` pairs of n runs a side, drawn with replacement from x and from y
    (runs measured), whose exact two-sided Mann-Whitney p is below alpha: how often n seeds a
    side would show the difference x and y show. Ties (a run drawn twice) are broken by a tiny
    jitter, as different seeds would not repeat a run's value to the last digit."""
    import random
    rng = random.Random(seed)
    counts = u_distribution(n, n)
    p_at, mid, hits = {}, n * n / 2, 0
    for _ in range(draws):
        a = [rng.choice(x) + rng.uniform(-1e-9, 1e-9) for _ in range(n)]
        b = [rng.choice(y) + rng.uniform(-1e-9, 1e-9) for _ in range(n)]
        d = abs(u_statistic(a, b) - mid)
        if d not in p_at:
            p_at[d] = tail_share(counts, d)
        hits += p_at[d] < alpha
    return hits / draws


def origins(runs):
    """Per label: {origin: (children, front points)} over the label's finished runs."""
    counts = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    for run in runs:
        label = run.split("/")[-2]
        db = sqlite3.connect(f"file:{run}/run.sqlite?mode=ro", uri=True)
        for (origin,) in db.execute("select origin from candidates where generation > 0"):
            counts[label][origin][0] += 1
        db.close()
        with open(run + "/front.csv") as f:
            for r in csv.DictReader(f):
                counts[label][r["origin"]][1] += 1
    return counts


def layers(arch):
    """An architecture's layers as (type, units, filters, kernel, pool size, pool kind)."""
    return [(l["type"], l.get("units"), l.get("filters"), l.get("kernel"), l.get("size"),
             l.get("kind")) for l in json.loads(arch)["layers"]]


def parent_use(runs):
    """Per label and origin (the model's, crossover): [children, closer to the first parent,
    closer to the partner, mixed, summed similarity to the first parent]."""
    counts = collections.defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for run in runs:
        if not os.path.exists(run + "/lm/calls.jsonl"):
            continue
        db = sqlite3.connect(f"file:{run}/run.sqlite?mode=ro", uri=True)
        arch = dict(db.execute("select id, arch from candidates"))
        db.close()
        with open(run + "/lm/calls.jsonl") as f:
            for line in f:
                kids = json.loads(line)["children"]
                for i, kid in enumerate(kids):
                    partner = kid["parents"][1:] or kids[(i + 1) % len(kids)]["parents"][:1]
                    if (kid["origin"] not in ("llm-builtin", "crossover") or not partner or
                            partner[0] == kid["parents"][0]):
                        continue
                    c = counts[run.split("/")[-2] + " " + kid["origin"]]
                    p, q, k = layers(arch[kid["parents"][0]]), layers(arch[partner[0]]), layers(kid["arch"])
                    rp = difflib.SequenceMatcher(None, k, p).ratio()
                    rq = difflib.SequenceMatcher(None, k, q).ratio()
                    c[0] += 1
                    c[1] += rp > rq
                    c[2] += rq > rp
                    c[3] += (any(x in p and x not in q for x in k) and
                             any(x in q and x not in p for x in k))
                    c[4] += rp
    return counts


def ends(runs, accurate):
    """Per label: [runs, summed best noisy accuracy, summed log10 nJ of the cheapest network at
    `accurate` or more, runs with such a network, children trained in full, of them at chance]."""
    sums = collections.defaultdict(lambda: [0, 0.0, 0.0, 0, 0, 0])
    for run in runs:
        s = sums[run.split("/")[-2]]
        db = sqlite3.connect(f"file:{run}/run.sqlite?mode=ro", uri=True)
        ok = db.execute("select generation, noisy_accuracy, energy_nj, arch from candidates "
                        "where status = 'ok'").fetchall()
        db.close()
        cheap = [e for _, acc, e, _ in ok if acc >= accurate]
        s[0] += 1
        s[1] += max((acc for _, acc, _, _ in ok), default=math.nan)
        if cheap:
            s[2] += math.log10(min(cheap))
            s[3] += 1
        for gen, acc, _, arch in ok:
            if gen > 0:
                s[4] += 1
                s[5] += acc < 1 / json.loads(arch)["layers"][-1]["units"] + 0.05
    return sums


def model_use(runs):
    """Per label: [runs, last call's examples, mean loss, re-samples, fallbacks, seconds,
    children with a parent's energy, of them cheaper] summed over the runs with lm/calls.jsonl."""
    sums = collections.defaultdict(lambda: [0, 0, 0.0, 0, 0, 0.0, 0, 0])
    for run in runs:
        if not os.path.exists(run + "/lm/calls.jsonl"):
            continue
        with open(run + "/lm/calls.jsonl") as f:
            calls = [json.loads(line)["stats"] for line in f]
        s = sums[run.split("/")[-2]]
        s[0] += 1
        s[1] += calls[-1]["examples"]
        s[2] += statistics.mean(c["loss"] for c in calls)
        s[3] += sum(c["resampled"] for c in calls)
        s[4] += sum(c["fallback"] for c in calls)
        s[5] += sum(c["train_seconds"] + c["sample_seconds"] for c in calls)
        db = sqlite3.connect(f"file:{run}/run.sqlite?mode=ro", uri=True)
        energy = dict(db.execute("select id, energy_nj from candidates"))
        for parents, e in db.execute("select parents, energy_nj from candidates where origin = "
                                     "'llm-builtin' and parents is not null"):
            first = (json.loads(parents) or [None])[0]
            if e is not None and energy.get(first) is not None:
                s[6] += 1
                s[7] += e < energy[first]
        db.close()
    return sums


def kept_rows(path, at, present):
    """The lines of a per-run CSV written before (same --at) whose run is not in `present`."""
    with open(path) as f:
        reader = csv.DictReader(f)
        want = ["strategy", "seed", "final_hypervolume"] + [f"hypervolume_at_{n}" for n in at]
        if reader.fieldnames != want:
            sys.exit(f"strategy_runs.py: {path} has columns {reader.fieldnames}, not {want}")
        rows = [(r["strategy"], int(r["seed"]), *(float(r[k]) for k in want[2:])) for r in reader]
    return [r for r in rows if (r[0], r[1]) not in present]


def prefix_rows(path, budget, at, present):
    """Runs of a longer budget (a per-run CSV with hypervolume_at_BUDGET) as runs of `budget`:
    a run's first `budget` candidates are the shorter run of its seed (the same draws and
    decisions), so its hypervolume there is that run's final one. Runs in `present` are left
    out; the --at figures are read where the CSV has them."""
    with open(path) as f:
        reader = csv.DictReader(f)
        need = [f"hypervolume_at_{n}" for n in [budget] + at]
        if any(k not in (reader.fieldnames or []) for k in need):
            sys.exit(f"strategy_runs.py: {path} lacks one of {need}")
        rows = [(r["strategy"], int(r["seed"]), *(float(r[k]) for k in need)) for r in reader]
    return [r for r in rows if (r[0], r[1]) not in present]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uhnas", default="./build/uhnas")
    ap.add_argument("--at", default="70", help="candidate counts, comma-separated")
    ap.add_argument("--origins", action="store_true", help="children and front points by origin")
    ap.add_argument("--parents", action="store_true", help="the model's children against their parents")
    ap.add_argument("--ends", action="store_true", help="what the runs found at either end of the front")
    ap.add_argument("--model", action="store_true", help="how the built-in model's fine-tuning went")
    ap.add_argument("--accurate", type=float, default=0.75, metavar="A",
                    help="--ends: the accuracy the cheap end is read at (default 0.75)")
    ap.add_argument("--merge", metavar="CSV", help="keep this file's lines for runs not under OUT")
    ap.add_argument("--also", metavar="CSV", action="append", default=[],
                    help="a longer budget's per-run CSV: its hypervolume_at_BUDGET lines count "
                         "as runs of this budget")
    ap.add_argument("--power", default="", metavar="N,...",
                    help="with two labels: how often N seeds a side would give p < 0.05")
    ap.add_argument("out")
    ap.add_argument("backend")
    ap.add_argument("budget", type=int)
    ap.add_argument("labels", nargs="*")
    a = ap.parse_args()
    if len(a.labels) not in (0, 2):
        ap.error("give two labels to test, or none")
    at = [int(n) for n in a.at.split(",") if n]
    rows, curves = [], {}
    finished = [run for run in sorted(glob.glob(f"{a.out}/{a.backend}/c{a.budget}/*/s*"))
                if os.path.exists(run + "/front.csv")]
    for run in finished:
        label, seed = run.split("/")[-2], int(run.split("/")[-1][1:])
        figures, curves[(label, seed)] = run_figures(a.uhnas, run, at)
        rows.append((label, seed, *figures))
    if a.merge:
        rows += kept_rows(a.merge, at, {(r[0], r[1]) for r in rows})
    for path in a.also:
        rows += prefix_rows(path, a.budget, at, {(r[0], r[1]) for r in rows})
    rows.sort()
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["strategy", "seed", "final_hypervolume"] + [f"hypervolume_at_{n}" for n in at])
    for r in rows:
        w.writerow([r[0], r[1]] + [f"{v:.6f}" for v in r[2:]])
    if a.origins:
        for label, by in sorted(origins(finished).items()):
            kids, points = (sum(v[i] for v in by.values()) for i in (0, 1))
            print(f"{a.backend} c{a.budget} {label}: " + "; ".join(
                f"{o} {100 * c / max(kids, 1):.0f} % of children, {100 * f / max(points, 1):.0f} % "
                f"of front points ({f})" for o, (c, f) in sorted(by.items())), file=sys.stderr)
    if a.parents:
        for label, (n, p, q, mixed, similar) in sorted(parent_use(finished).items()):
            print(f"{a.backend} c{a.budget} {label}: {n} children; closer to the first parent "
                  f"{100 * p / max(n, 1):.0f} %, to the partner {100 * q / max(n, 1):.0f} %, with "
                  f"layers only each has {100 * mixed / max(n, 1):.0f} %, mean similarity to the "
                  f"first parent {similar / max(n, 1):.2f}", file=sys.stderr)
    if a.ends:
        for label, (n, best, cheap, has, kids, chance) in sorted(ends(finished, a.accurate).items()):
            print(f"{a.backend} c{a.budget} {label}: {n} runs; most accurate {best / n:.3f}; "
                  f"cheapest at {a.accurate:g} or more 10^{cheap / max(has, 1):.2f} nJ ({has} runs "
                  f"reach it); {100 * chance / max(kids, 1):.0f} % of {kids} children trained in "
                  f"full at chance", file=sys.stderr)
    if a.model:
        for label, (n, ex, loss, resampled, fallback, sec, kids, cheaper) in sorted(model_use(finished).items()):
            print(f"{a.backend} c{a.budget} {label}: {n} runs; {ex / n:.1f} examples at the last "
                  f"call, loss {loss / n:.3f}, {resampled / n:.0f} re-samples and {fallback / n:.1f} "
                  f"fallbacks a run, {sec / n:.0f} s of the model a run; " +
                  (f"{100 * cheaper / kids:.0f} % of {kids} children cheaper than their parent"
                   if kids else "no child names its parent (runs stored before parents were)"),
                  file=sys.stderr)
    if not a.labels:
        return
    for k, name in enumerate(["final"] + [f"at {n}" for n in at]):
        x = [r[2 + k] for r in rows if r[0] == a.labels[0]]
        y = [r[2 + k] for r in rows if r[0] == a.labels[1]]
        if not x or not y:
            sys.exit(f"strategy_runs.py: no finished runs of {a.labels[0] if not x else a.labels[1]}")
        u0, p = mann_whitney(x, y)
        print(f"{a.backend} c{a.budget} {name}: {a.labels[0]} {statistics.mean(x):.4f} ({len(x)} runs), "
              f"{a.labels[1]} {statistics.mean(y):.4f} ({len(y)}); U = {u0:g}, exact two-sided "
              f"p = {p:.4f}", file=sys.stderr)
        for n in (int(v) for v in a.power.split(",") if v):
            print(f"{a.backend} c{a.budget} {name}: {n} seeds a side would give p < 0.05 in "
                  f"{100 * power(x, y, n):.0f} % of 2000 draws from these runs", file=sys.stderr)
    # how soon the second label's mean curve reaches the first's final mean
    goal = statistics.mean(r[2] for r in rows if r[0] == a.labels[0])
    mine = [c for (label, _), c in curves.items() if label == a.labels[1]]
    if len(mine) < sum(r[0] == a.labels[1] for r in rows):
        print(f"{a.backend} c{a.budget}: some runs of {a.labels[1]} are only in "
              f"{', '.join(([a.merge] if a.merge else []) + a.also)}: their curves are not kept",
              file=sys.stderr)
        return
    reach = next((n for n in range(1, a.budget + 1)
                  if statistics.mean(c.get(n, 0.0) for c in mine) >= goal), None)
    print(f"{a.backend} c{a.budget}: {a.labels[1]}'s mean reaches {a.labels[0]}'s final mean "
          f"({goal:.4f}) " + (f"after {reach} candidates" if reach else "not within the budget"),
          file=sys.stderr)


if __name__ == "__main__":
    main()
