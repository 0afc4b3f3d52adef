#!/usr/bin/env python3
"""sim_workers — how busy W workers would be, replaying a run's measured candidate costs.

A discrete-event simulation (issue 19, item 3) of four ways to hand candidates to W workers:

  generational  a generational run: a generation's candidates (the population, then
                --children at a time) train to each of the pruner's rungs, and every rung is a
                barrier: the next starts when the last candidate of this one is done.
  gen, W kids   the same with --children W (as many children as workers).
  async         `search --async --pruner none`: whenever a worker is free it gets the next
                candidate, trained fully as one task; no barriers. A candidate the run pruned
                is charged its full training: its seconds per epoch so far x the run's epochs.
  async+asha    `search --async` with the pruner: each rung a task, a candidate going on to
                its next rung served first, else a new candidate. The run's own decisions of
                who goes on are replayed.

Costs are the run's own: each candidate's training seconds per rung (the rungs table; a run
without the pruner has one task per candidate), times --scale (training time is linear in
epochs x samples: 100 takes a run of 2 epochs on 4,800 samples to the paper's 20 epochs on
48,000). For more workers than the run has candidates, the candidates are resampled (seeded)
to --per-worker candidates per worker, keeping each one's rungs together, so the heavy tail
of the real costs stays. Rank 0 hands out one task at a time and spends --coord-ms on each
(dispatch, receive, commit, the record of the decision: bench/bench_mpi.sh measures it); a
worker waits for it like for anything else.

Prints, per worker count and mode: the simulated wall time, utilisation (the workers' busy
seconds over workers x wall time) and candidates per hour (hypervolume per hour follows:
the search's hypervolume at equal evaluations is measured by bench/strategies.sh, labels
nsga2-full and nsga2-async). The same candidates are replayed in every mode.

Then, for the run's own candidates in each mode, the hours to finish them (its final
hypervolume) and the hypervolume after the first hour (the run's own curve, by how many
candidates each mode has finished by then; `uhnas compare --curves` computes it).

  bench/sim_workers.py RUN_DIR [--workers 1,2,3,8,64,256,1024] [--coord-ms 18] [--scale 1]
                               [--per-worker 400] [--seed 1] [--uhnas ./build/uhnas]
"""
import argparse
import csv
import heapq
import json
import random
import sqlite3
import subprocess
import sys
import tempfile


def load(run_dir, scale):
    """[(generation, [rung seconds...], full seconds)] in id order, from a run's store
    (read-only); full: the candidate trained to the run's epochs."""
    db = sqlite3.connect(f"file:{run_dir}/run.sqlite?mode=ro", uri=True)
    epochs = json.loads(db.execute("SELECT config FROM run").fetchone()[0])["train"]["epochs"]
    rows = db.execute("SELECT hash, generation, train_seconds, status, epochs_trained "
                      "FROM candidates ORDER BY id").fetchall()
    rungs = {}
    for h, rung, secs in db.execute("SELECT hash, rung, train_seconds FROM rungs ORDER BY hash, rung"):
        rungs.setdefault(h, []).append(secs)
    out = []
    for h, gen, secs, status, trained in rows:
        if status == "invalid":
            continue  # refused before training: no cost
        chain = [scale * max(0.0, s or 0.0)
                 for s in (rungs.get(h) or [secs if secs and secs > 0 else 0.0])]
        full = sum(chain) * (epochs / trained if trained and trained > 0 else 1)
        out.append((gen, chain, full))
    return out


def resample(cands, n, seed, children=None):
    """n candidates drawn with replacement, in generations of the original sizes' pattern
    (or of `children` after the population)."""
    if n <= len(cands) and children is None:
        return cands
    rng = random.Random(seed)
    pop = sum(1 for c in cands if c[0] == 0)
    children = children or max(1, sum(1 for c in cands if c[0] == 1))
    out = []
    for i in range(n):
        gen = 0 if i < pop else 1 + (i - pop) // children
        out.append((gen,) + rng.choice(cands)[1:])
    return out


class Rank0:
    """The coordinator: one task handed out at a time, coord seconds each."""

    def __init__(self, coord):
        self.coord, self.free_at = coord, 0.0

    def dispatch(self, now):
        start = max(now, self.free_at)
        self.free_at = start + self.coord
        return self.free_at  # the task starts on its worker then


def generational(cands, workers, coord, finished=None):
    """Barriers at every rung of every generation; returns (wall, busy). finished (a list)
    receives each candidate's completion time."""
    gens = {}
    for g, chain, _ in cands:
        gens.setdefault(g, []).append(chain)
    rank0, now, busy = Rank0(coord), 0.0, 0.0
    for g in sorted(gens):
        batch = gens[g]
        depth = max(len(c) for c in batch)
        for r in range(depth):
            tasks = [c for c in batch if len(c) > r]
            free = [now] * min(workers, len(tasks))  # the workers of this rung, in order
            heapq.heapify(free)
            end = now
            for c in tasks:
                at = heapq.heappop(free)
                start = rank0.dispatch(at)
                done = start + c[r]
                busy += c[r]
                end = max(end, done)
                heapq.heappush(free, done)
                if finished is not None and r + 1 == len(c):
                    finished.append(done)
            now = end  # the barrier
    return now, busy


def asynchronous(cands, workers, coord, finished=None):
    """--async: the next candidate to a free worker, trained fully; returns (wall, busy)."""
    return steady([(g, [full], full) for g, _, full in cands], workers, coord, finished)


def steady(cands, workers, coord, finished=None):
    """No barriers: a promoted rung first, else the next candidate; returns (wall, busy)."""
    rank0, busy, end = Rank0(coord), 0.0, 0.0
    pending = []  # (ready time, order, chain, next rung): promotions waiting for a worker
    nxt, order = 0, 0
    free = [0.0] * workers
    heapq.heapify(free)
    while nxt < len(cands) or pending:
        at = heapq.heappop(free)
        if pending and (pending[0][0] <= at or nxt >= len(cands)):
            ready, _, chain, r = heapq.heappop(pending)
            at = max(at, ready)
        else:
            chain, r = cands[nxt][1], 0
            nxt += 1
        start = rank0.dispatch(at)
        done = start + chain[r]
        busy += chain[r]
        end = max(end, done)
        if r + 1 < len(chain):
            order += 1
            heapq.heappush(pending, (done, order, chain, r + 1))
        elif finished is not None:
            finished.append(done)
        heapq.heappush(free, done)
    return end, busy


def hv_curve(uhnas, run_dir):
    """The run's hypervolume after 1..N evaluations (uhnas compare --curves), or None."""
    with tempfile.TemporaryDirectory() as t:
        try:
            subprocess.run([uhnas, "compare", run_dir, "--out", t + "/c.html", "--csv", t + "/c.csv",
                            "--curves", t + "/curve.csv"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        rows = list(csv.DictReader(open(t + "/curve.csv")))
    return [float(r["mean_hypervolume"]) for r in sorted(rows, key=lambda r: int(r["evaluations"]))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--workers", default="1,2,3,8,64,256,1024")
    ap.add_argument("--coord-ms", type=float, default=18.0)
    ap.add_argument("--per-worker", type=int, default=400)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--uhnas", default="./build/uhnas", help="for the run's hypervolume curve")
    a = ap.parse_args()
    cands = load(a.run_dir, a.scale)
    if not cands:
        sys.exit(f"sim_workers: no candidates in {a.run_dir}")
    for what, costs in (("as the run trained them", sorted(sum(c[1]) for c in cands)),
                        ("trained fully", sorted(c[2] for c in cands))):
        print(f"sim_workers: {len(cands)} candidates from {a.run_dir} (x{a.scale:g}); seconds "
              f"per candidate {what}: median {costs[len(costs) // 2]:.1f}, "
              f"mean {sum(costs) / len(costs):.1f}, max {costs[-1]:.1f}")
    print(f"rank 0: {a.coord_ms:g} ms per task")
    print(f"{'workers':>7} {'candidates':>10} {'mode':>12} {'wall (h)':>9} {'utilisation':>11} "
          f"{'cand/h':>8}")
    for w in (int(x) for x in a.workers.split(",")):
        sample = resample(cands, max(len(cands), a.per_worker * w), a.seed)
        wide = resample(cands, len(sample), a.seed, children=w)  # --children W
        for name, sim, cs in (("generational", generational, sample),
                              ("gen, W kids", generational, wide),
                              ("async", asynchronous, sample), ("async+asha", steady, sample)):
            wall, busy = sim(cs, w, a.coord_ms / 1000)
            print(f"{w:>7} {len(sample):>10} {name:>12} {wall / 3600:>9.3f} "
                  f"{busy / (w * wall):>11.3f} {len(sample) / (wall / 3600):>8.0f}")
    curve = hv_curve(a.uhnas, a.run_dir)
    if not curve:
        return
    # the run's own candidates in each mode: its hypervolume by the hour (the hypervolume
    # after k evaluations is the run's own; the modes replay the same candidates)
    print(f"\nthe run's own {len(cands)} candidates (final hypervolume {curve[-1]:.4f}): hours to "
          f"finish, and the hypervolume after 1 h")
    print(f"{'workers':>7} {'mode':>12} {'hours':>8} {'HV at 1 h':>10}")
    for w in (int(x) for x in a.workers.split(",")):
        for name, sim in (("generational", generational), ("async", asynchronous),
                          ("async+asha", steady)):
            done = []
            wall, _ = sim(cands, w, a.coord_ms / 1000, done)
            k = sum(1 for t in done if t <= 3600)
            hv = curve[min(k, len(curve)) - 1] if k else 0.0
            print(f"{w:>7} {name:>12} {wall / 3600:>8.3f} {hv:>10.4f}")


if __name__ == "__main__":
    main()
