#!/usr/bin/python3
"""The GEMM backend study: one DESIGN §6 training step's GEMMs through every backend at hand.

Runs build/bin/tapegrad_gemm_study (bench/gemm_study.cpp) once per backend per round, the
backends in a rotated order each round, each in its own process (so OpenMP and OpenBLAS thread
pools never share one), behind the quiet gate of compare_onednn.py (wait until other processes
use < 0.1 cores; rerun a run that saw more). Backends: tapegrad (the linked OpenBLAS with
tapegrad's skinny split), openblas (its plain cblas_sgemm), dnnl-sgemm, dnnl-matmul (weights
packed once per step) and, when installed, the other Debian BLAS builds loaded at run time:
  OpenBLAS openmp / serial   apt-get install libopenblas0-openmp libopenblas0-serial
  BLIS pthread / openmp      apt-get install libblis4-pthread libblis4-openmp
(tapegrad itself stays on the pthread build it pins: cmake/TapegradBlas.cmake). Results and the
choice they led to: docs/gemm_study.md. Prints, per config / cell / threads, each backend's milliseconds of GEMM per
step (median of the rounds' medians, min - max) in all and by kind (forward A·Bᵀ, dX A·B, dW
Aᵀ·B), its GFLOP/s, and the per-round ratio tapegrad / backend (> 1: the backend is faster).

  /usr/bin/python3 bench/gemm_study.py --configs S,M --cells lstm,gru --threads 1,2 --rounds 5 [--json]
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import compare_onednn as co  # noqa: E402  (the quiet gate and the measured run)

LIB = "/usr/lib/x86_64-linux-gnu"
RUNTIME_BLAS = {
    "openblas-openmp": f"{LIB}/openblas-openmp/libopenblas.so.0",
    "openblas-serial": f"{LIB}/openblas-serial/libopenblas.so.0",
    "blis-pthread": f"{LIB}/blis-pthread/libblis.so.4",
    "blis-openmp": f"{LIB}/blis-openmp/libblis.so.4",
}
KINDS = ("step", "forward", "dX", "dW")


def backends(args):
    names = ["tapegrad", "openblas", "dnnl-sgemm", "dnnl-matmul"]
    out = {n: n for n in names}
    for name, path in RUNTIME_BLAS.items():
        if os.path.exists(path):
            out[name] = "cblas:" + path
    if args.backends:
        wanted = args.backends.split(",")
        unknown = [w for w in wanted if w not in out]
        if unknown:
            co.fail(f"--backends: {', '.join(unknown)} not available here (have: {', '.join(out)})")
        out = {w: out[w] for w in wanted}
    return out


def run(args, config, cell, threads, backend):
    cmd = [args.binary, "--config", config, "--cell", cell, "--threads", str(threads), "--backend", backend,
           "--rounds", str(args.inner_rounds), "--json"]
    env = dict(os.environ, OMP_WAIT_POLICY="passive") if threads > 1 else None
    stdout, other = co.run_measured(cmd, args.timeout, env=env)
    return json.loads(stdout.strip().splitlines()[-1]), other


def study(args, wait_quiet, config, cell, threads, names):
    rows = {name: [] for name in names}
    order = list(names)
    for r in range(args.rounds):
        order = order[1:] + order[:1]  # rotate: no backend always first
        for name in order:
            for attempt in range(args.retries + 1):
                wait_quiet(max_other=args.max_other, window=2.0, timeout=args.max_wait)
                result, other = run(args, config, cell, threads, names[name])
                if other <= args.max_other:
                    break
            result["other_cores"] = other
            rows[name].append(result)
            print(f"  round {r + 1}: {config} {cell} t{threads} {name}: {result['step']['ms_median']:.3f} ms "
                  f"(other {other:.2f})", file=sys.stderr, flush=True)
    return rows


def summarize(config, cell, threads, rows):
    base = rows.get("tapegrad")
    table = []
    for name, results in rows.items():
        row = {"config": config, "cell": cell, "threads": threads, "backend": name,
               "gflop_per_step": results[0]["gflop_per_step"]}
        for kind in KINDS:
            ms = [r[kind]["ms_median"] for r in results]
            row[kind] = {"ms_min": min(ms), "ms_median": statistics.median(ms), "ms_max": max(ms)}
        row["gflop_per_s"] = row["gflop_per_step"] / (row["step"]["ms_median"] / 1e3)
        if base:
            ratios = [b["step"]["ms_median"] / r["step"]["ms_median"] for b, r in zip(base, results)]
            row["speedup_vs_tapegrad"] = {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)}
        table.append(row)
    return table


def print_table(table):
    print("| config | cell | threads | backend | GEMM ms/step min / median / max | forward | dX | dW | GFLOP/s "
          "| tapegrad / backend (min / median / max) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        s, sp = r["step"], r.get("speedup_vs_tapegrad")
        ratio = f"{sp['min']:.2f} / **{sp['median']:.2f}** / {sp['max']:.2f}" if sp else "-"
        print(f"| {r['config']} | {r['cell']} | {r['threads']} | {r['backend']} | {s['ms_min']:.2f} / "
              f"{s['ms_median']:.2f} / {s['ms_max']:.2f} | {r['forward']['ms_median']:.2f} | {r['dX']['ms_median']:.2f} "
              f"| {r['dW']['ms_median']:.2f} | {r['gflop_per_s']:.1f} | {ratio} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "tapegrad_gemm_study"))
    p.add_argument("--configs", default="S,M")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--backends", default="", help="comma-separated subset (default: every one available)")
    p.add_argument("--rounds", type=int, default=5, help="processes per backend (alternating)")
    p.add_argument("--inner-rounds", type=int, default=7, help="timings per process (its median is kept)")
    p.add_argument("--max-other", type=float, default=0.10)
    p.add_argument("--max-wait", type=float, default=120.0)
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not os.path.exists(args.binary):
        co.fail(f"{args.binary} is missing: build it (cmake --build build --target tapegrad_gemm_study; "
                f"it needs apt-get install libdnnl-dev)")
    wait_quiet, _ = co.load_wait_quiet(os.path.abspath(os.path.join(ROOT, "..", "shared", "reference", "onednn")))
    names = backends(args)
    table = []
    for config in co.parse_list(args.configs, co.CONFIGS, "configs"):
        for cell in co.parse_list(args.cells, co.CELLS, "cells"):
            for threads in (int(t) for t in args.threads.split(",")):
                table += summarize(config, cell, threads, study(args, wait_quiet, config, cell, threads, names))
    print_table(table)
    if args.json:
        for row in table:
            print(json.dumps(row))


if __name__ == "__main__":
    main()
