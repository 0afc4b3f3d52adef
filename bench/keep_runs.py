#!/usr/bin/env python3
"""bench/keep_runs.py — the strategy bench's finished runs, kept small enough for the repository.

  bench/keep_runs.py keep OUT KEPT      each finished run OUT/BACKEND/cBUDGET/LABEL/sSEED not yet
                                        in KEPT becomes KEPT/BACKEND/cBUDGET/LABEL/sSEED.tar.gz
  bench/keep_runs.py restore KEPT OUT   each kept run not in OUT becomes a run directory again

A run directory holds its networks' weights and the model's checkpoints (40 MB for one
150-candidate run of the built-in model); what `uhnas compare` and bench/strategy_runs.py read
from it is a few tens of kB: the store's rows without the weights, front.csv and the model's
call records (lm/calls.jsonl). Those are what is kept (every table's schema, every row but the
weights'), so that a bench outlives the machine that ran it: on a new machine `restore`, then
bench/strategies.sh skips the kept runs (they are finished) and runs only what is missing, and
the page and the tests pool old and new runs. A restored run's figures are the original's (its
rows are), but it cannot be resumed or exported with weights. The archives are deterministic
(no times, sorted members), so keeping a run twice writes the same bytes.
"""
import argparse
import glob
import gzip
import io
import os
import shutil
import sqlite3
import sys
import tarfile

SKIPPED_ROWS = ("weights",)  # tables whose rows are not kept: the networks' trained weights
MEMBERS = ("run.sql", "front.csv", "lm/calls.jsonl")


def finished_runs(root):
    """Relative paths BACKEND/cBUDGET/LABEL/sSEED of the finished runs under root."""
    return sorted(os.path.relpath(os.path.dirname(f), root)
                  for f in glob.glob(f"{root}/*/c*/*/s*/front.csv"))


def store_sql(path):
    """The store as SQL: its identity (application_id, schema version), every table's schema,
    every row but SKIPPED_ROWS' (read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out = [f"PRAGMA {p} = {db.execute(f'PRAGMA {p}').fetchone()[0]};"
           for p in ("application_id", "user_version")]
    for line in db.iterdump():
        table = line.split('"')[1] if line.startswith('INSERT INTO "') else None
        if table not in SKIPPED_ROWS:
            out.append(line)
    db.close()
    return "\n".join(out) + "\n"


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def keep(out, kept):
    n = 0
    for rel in finished_runs(out):
        dest = os.path.join(kept, rel + ".tar.gz")
        if os.path.exists(dest):
            continue
        run = os.path.join(out, rel)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            add(tar, "run.sql", store_sql(run + "/run.sqlite").encode())
            for name in MEMBERS[1:]:
                if os.path.exists(os.path.join(run, name)):
                    with open(os.path.join(run, name), "rb") as f:
                        add(tar, name, f.read())
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}.{os.getpid()}.tmp"  # two benches keeping at once each write their own
        with open(tmp, "wb") as f:  # gzip with no name or time: the same bytes each time
            with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as z:
                z.write(raw.getvalue())
        os.replace(tmp, dest)
        n += 1
    print(f"keep_runs.py: {n} runs kept in {kept}", file=sys.stderr)


def restore(kept, out):
    n = 0
    for path in sorted(glob.glob(f"{kept}/*/c*/*/s*.tar.gz")):
        run = os.path.join(out, os.path.relpath(path, kept)[:-len(".tar.gz")])
        if os.path.exists(run):
            continue
        tmp = run + ".restoring"  # a restore cut short leaves only this, never a half run
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with tarfile.open(path, "r:gz") as tar:
            for m in tar.getmembers():
                if m.name not in MEMBERS or not m.isfile():
                    sys.exit(f"keep_runs.py: {path}: unexpected member {m.name!r}")
                data = tar.extractfile(m).read()
                if m.name == "run.sql":
                    db = sqlite3.connect(os.path.join(tmp, "run.sqlite"))
                    db.executescript(data.decode())
                    db.close()
                else:
                    os.makedirs(os.path.dirname(os.path.join(tmp, m.name)), exist_ok=True)
                    with open(os.path.join(tmp, m.name), "wb") as f:
                        f.write(data)
        os.rename(tmp, run)
        n += 1
    print(f"keep_runs.py: {n} runs restored into {out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["keep", "restore"])
    ap.add_argument("source")
    ap.add_argument("dest")
    a = ap.parse_args()
    (keep if a.action == "keep" else restore)(a.source, a.dest)


if __name__ == "__main__":
    main()
