#!/usr/bin/env python3
"""The hardware table: four architectures on every backend -- energy (before -> after a model
change), latency, area, and clean and noisy accuracy after noise-aware training.

Every cell is one `uhnas energy --json` or `uhnas eval --json` run, saved as its own JSON file
under OUT; a cell whose file exists is not run again, so the table is resumable (stop it at
any time and run the same command again). The "before" energies come from a second build
(--old DIR: a checkout with its own build/uhnas and configs/backends) and are optional.

  bench/hw_table.py --out runs/hw-table [--old /tmp/old] [--epochs 2] [--limit-train 6000]
                    [--limit-test 2000] [--mc 5] [--energy-only]

MZI backends are also trained with "train_noise": "sampled" (hardware realisations in the
loop) when the backend file accepts it, beside the default Gaussian stand-in.
"""
import argparse
import json
import os
import subprocess
import sys

ARCHS = {
    "mlp-small": {"layers": [{"type": "dense", "units": 64, "activation": "relu"},
                             {"type": "dense", "units": 10}]},
    "mlp-wide": {"layers": [{"type": "dense", "units": 512, "activation": "relu"},
                            {"type": "dense", "units": 10}]},
    "mlp-deep": {"layers": [{"type": "dense", "units": 32, "activation": "relu"}] * 4 +
                 [{"type": "dense", "units": 10}]},
    "cnn": {"layers": [{"type": "conv2d", "filters": 8, "kernel": 3, "stride": 1,
                        "activation": "relu"},
                       {"type": "pool", "kind": "max", "size": 2},
                       {"type": "dense", "units": 32, "activation": "relu"},
                       {"type": "dense", "units": 10}]},
}
BACKENDS = ["cpu-xeon8380-fp32", "gpu-b200-fp16", "crossbar-pcm", "mzi-realistic", "mzi-worst",
            "mzi-nonvolatile"]


def run_json(cmd, cwd=None):
    """Runs cmd; returns its JSON output (or {"error": ...} with the exit code)."""
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    except (json.JSONDecodeError, IndexError):
        out = {}
    if p.returncode != 0:
        out.setdefault("error", p.stderr.strip().splitlines()[-1] if p.stderr.strip() else
                       f"exit {p.returncode}")
        out["exit"] = p.returncode
    return out


def cell(path, make):
    """The cell's saved JSON, running make() first when it is missing (atomic write)."""
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    value = make()
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
    return value


def sampled_backend(uhnas, name, out):
    """A copy of an MZI backend file with train_noise = sampled, or None when the file or the
    model does not take it."""
    src = os.path.join(os.path.dirname(os.path.abspath(uhnas)), "..", "configs", "backends",
                       name + ".json")
    if not name.startswith("mzi") or not os.path.exists(src):
        return None
    with open(src) as f:
        doc = json.load(f)
    doc["name"] = name + "-sampled"
    doc["params"]["train_noise"] = "sampled"
    path = os.path.join(out, name + "-sampled.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    probe = run_json([uhnas, "energy", "--backend", path, "--arch",
                      json.dumps(ARCHS["mlp-small"]), "--json"])
    return path if "energy_nj" in probe else None


def fmt(x, unit=""):
    if x is None:
        return "--"
    if isinstance(x, str):
        return x
    for lim, f in ((1e4, "{:.0f}"), (100, "{:.0f}"), (1, "{:.1f}"), (0, "{:.3g}")):
        if abs(x) >= lim:
            return f.format(x) + unit
    return "{:.3g}".format(x) + unit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--uhnas", default="build/uhnas")
    ap.add_argument("--old", help="a checkout with build/uhnas and configs/backends: 'before'")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit-train", type=int, default=6000)
    ap.add_argument("--limit-test", type=int, default=2000)
    ap.add_argument("--mc", type=int, default=5)
    ap.add_argument("--energy-only", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    uhnas = os.path.abspath(a.uhnas)
    rows = []
    for arch, spec in ARCHS.items():
        text = json.dumps(spec)
        for b in BACKENDS:
            new = cell(os.path.join(a.out, f"energy-{arch}-{b}.json"),
                       lambda: run_json([uhnas, "energy", "--backend", b, "--arch", text,
                                         "--json"]))
            old = None
            if a.old:
                old = cell(os.path.join(a.out, f"old-energy-{arch}-{b}.json"),
                           lambda: run_json([os.path.join(a.old, "build", "uhnas"), "energy",
                                             "--backend", b, "--arch", text, "--json"],
                                            cwd=a.old))
            row = {"arch": arch, "backend": b, "energy": new.get("energy_nj"),
                   "old": old.get("energy_nj") if old else None,
                   "latency": new.get("latency_ns"),
                   "area": new.get("footprint", {}).get("area_mm2"),
                   "violations": [v.get("message", "") for v in new.get("violations", [])],
                   "top": None}
            parts = new.get("breakdown", {}).get("total", {})
            if parts:
                k = max(parts, key=parts.get)
                row["top"] = f"{k} {100 * parts[k] / new['energy_nj']:.0f}%"
            if not a.energy_only and not row["violations"]:
                ev = [a.data, "--epochs", str(a.epochs), "--limit-train", str(a.limit_train),
                      "--limit-test", str(a.limit_test), "--mc", str(a.mc)]
                for method, backend in (("gauss", b), ("sampled", None)):
                    if method == "sampled":
                        backend = sampled_backend(uhnas, b, a.out)
                        if backend is None:
                            continue
                    r = cell(os.path.join(a.out, f"eval-{arch}-{b}-{method}.json"),
                             lambda: run_json([uhnas, "eval", "--backend", backend, "--arch",
                                               text, "--data"] + ev + ["--noise-aware",
                                                                      "--json"]))
                    row[method] = (r.get("clean_accuracy"), r.get("noisy_accuracy"))
                    print(f"{arch:10s} {b:18s} {method:7s} clean {r.get('clean_accuracy')} "
                          f"noisy {r.get('noisy_accuracy')}", file=sys.stderr, flush=True)
            rows.append(row)
    print("| arch | backend | energy nJ (before -> after) | largest part | latency ns | "
          "area mm2 | clean / noisy (Gaussian) | clean / noisy (sampled) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        acc = {m: (f"{r[m][0]:.3f} / {r[m][1]:.3f}" if r.get(m) and r[m][0] is not None
                   else "--") for m in ("gauss", "sampled")}
        energy = f"{fmt(r['old'])} -> {fmt(r['energy'])}" if r["old"] else fmt(r["energy"])
        if r["violations"]:
            acc["gauss"] = "violates: " + "; ".join(r["violations"])
        print(f"| {r['arch']} | {r['backend']} | {energy} | {r['top'] or '--'} | "
              f"{fmt(r['latency'])} | {fmt(r['area'])} | {acc['gauss']} | {acc['sampled']} |")


if __name__ == "__main__":
    main()
