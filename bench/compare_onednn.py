#!/usr/bin/python3
"""tapegrad_bench against the oneDNN reference (fused RNN primitives) on the same workload.

The reference is ../shared/reference/onednn beside the repository (or --reference DIR): its
bench_rnn_onednn.cpp trains the DESIGN §6 workload with oneDNN's lstm / lbr_gru / vanilla_rnn
training primitives and prints a RESULT line. This script builds it with the reference's
build.sh when the binary is missing or older than its source (into --workdir, default
build/onednn_reference; the reference folder itself is never written), then runs tapegrad_bench
and bench_rnn_onednn alternately, tapegrad then oneDNN, --rounds pairs per config / cell /
threads, in this one invocation. Both get 3 warm-up steps, then K timed steps (S: 100, M: 6).
oneDNN runs with --head_gemm openblas at 1 thread and --head_gemm dnnl at more (its best
settings in the reference's README: OpenBLAS's spinning pool fights oneDNN's OpenMP threads).

Quiet gate: before each pair it waits (at most --max-wait s) until other processes use less
than --max-other cores (0.10), the approach of the reference's cpuload.py (imported from the
reference folder when present, else the local copy below). During each run it measures how many
cores other processes used (system busy CPU time minus the run's own, over the run's wall time);
a pair whose gate timed out or whose runs saw more than --max-other is rerun, at most --retries
times, then the least loaded attempt is kept and flagged noisy.

Prints one progress line per attempt (stderr), then a markdown table: tokens/s min / median /
max of each engine and the per-pair ratio tapegrad / oneDNN (min / median / max), and with --json
one JSON line per row. With --pytorch, each round also runs the workload in PyTorch
(compare_pytorch.py's worker) and the table gets its tokens/s and the ratio tapegrad / PyTorch.
With --shards threads (or N), tapegrad runs at more than one thread as data-parallel shards on
its pool (tapegrad_bench --shards, tg::DataParallel) in the configs of --shard-configs. Rows of
one model (no shards) get a second table: the time of the step's GEMMs replayed alone (what
tapegrad_bench's utilization divides by its step) as a share of each engine's step, so oneDNN's
step is read with tapegrad's yardstick: how much of it those same products would fill. Exit
code 2, with one line, when the reference, libdnnl-dev, PyTorch (with --pytorch) or
tapegrad_bench is missing. Standard library only: run with /usr/bin/python3.
"""
import argparse
import importlib.util
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROG = "compare_onednn.py"
# The DESIGN §6 workload, as tapegrad_bench's workload_shape() and the reference's README give it.
CONFIGS = {"S": dict(B=32, T=64, E=64, H=128, L=1, K=100), "M": dict(B=64, T=100, E=128, H=512, L=2, K=6)}
CELLS = ("lstm", "gru", "rnn")  # bench_rnn_onednn --cell lstm|gru|rnn (gru = lbr_gru, PyTorch's formula)
WARMUP = 3
DNNL_HEADER = "oneapi/dnnl/dnnl.hpp"
INCLUDE_DIRS = ("/usr/include", "/usr/local/include")
INSTALL_HINT = "apt-get install libdnnl-dev"
PYTORCH_PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives there


def fail(message, code=2):
    """One clear line on stderr, then exit."""
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(code)


# ------------------------------------------------------------------------- CPU load of others
def busy_seconds():
    """System-wide busy CPU-seconds so far (/proc/stat: all time but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _local_wait_quiet(max_other=0.10, window=2.0, timeout=900.0):
    """The idea of cpuload.wait_quiet, for when the reference's copy is absent: block until
    other processes use < max_other cores over `window` s, confirm over 1 s more after a random
    0-2 s pause (so two jobs waiting for quiet do not start in lock-step), give up after
    `timeout` s. Returns the last reading (cores used by others)."""
    def other_over(seconds):
        b0, c0, t0 = busy_seconds(), time.process_time(), time.perf_counter()
        time.sleep(seconds)
        wall = time.perf_counter() - t0
        return max(0.0, busy_seconds() - b0 - (time.process_time() - c0)) / wall

    t_end = time.time() + timeout
    while True:
        other = other_over(window)
        if other < max_other:
            time.sleep(random.uniform(0.0, 2.0))
            other = other_over(1.0)
        if other < max_other or time.time() > t_end:
            return other


def load_wait_quiet(reference):
    """cpuload.wait_quiet from the reference folder (or its parent), else the local copy."""
    for folder in (reference, os.path.dirname(reference)):
        path = os.path.join(folder, "cpuload.py")
        if os.path.isfile(path):
            sys.dont_write_bytecode = True  # the reference folder is read-only
            spec = importlib.util.spec_from_file_location("cpuload", path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
                return module.wait_quiet, path
            except Exception:  # noqa: BLE001 - an unusable copy: fall back to ours
                pass
    return _local_wait_quiet, "local copy in " + PROG


def run_measured(cmd, timeout, env=None):
    """Runs cmd to completion; returns (stdout, other_cores): the cores other processes used
    during the run, = (system busy CPU-seconds - the child's - ours) / wall seconds."""
    r0, b0, c0, t0 = (resource.getrusage(resource.RUSAGE_CHILDREN), busy_seconds(), time.process_time(),
                      time.perf_counter())
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        fail(f"{os.path.basename(cmd[0])} took more than {timeout:.0f} s (--timeout): {' '.join(cmd)}", 1)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    own = time.process_time() - c0
    other = max(0.0, busy_seconds() - b0 - child - own) / wall
    if p.returncode != 0:
        tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        fail(f"{' '.join(cmd)} exited with {p.returncode}: {tail[0]}", 1)
    return p.stdout, other


# ------------------------------------------------------------------------- the two engines
def shards(args, config, threads):
    """tapegrad_bench --shards for this row: data-parallel on the pool's threads (tg::DataParallel)
    at more than one thread when --shards asks for it, else 1 (threads inside the ops)."""
    if threads == 1 or config not in args.shard_configs:
        return 1
    return threads if args.shards == "threads" else int(args.shards)


def run_tapegrad(args, config, cell, threads):
    cmd = [args.tapegrad_bench, "--config", config, "--cell", cell, "--threads", str(threads), "--json"]
    if shards(args, config, threads) > 1:
        cmd += ["--shards", str(shards(args, config, threads))]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    out, other = run_measured(cmd, args.timeout)
    result = json.loads(out.strip().splitlines()[-1])
    # The step's GEMMs replayed alone (ms per step): the yardstick of the utilization figure.
    gemm_ms = result["ms_per_step"] * result["utilization"] if shards(args, config, threads) == 1 else None
    return dict(tokens_per_s=result["tokens_per_s"], ms_per_step=result["ms_per_step"], gemm_ms=gemm_ms,
                other_cores=other)


def head_gemm(args, threads):
    if args.head_gemm != "auto":
        return args.head_gemm
    return "openblas" if threads == 1 else "dnnl"


def run_onednn(args, binary, config, cell, threads):
    c = CONFIGS[config]
    cmd = [binary, "--cell", cell, "--B", str(c["B"]), "--T", str(c["T"]), "--E", str(c["E"]), "--H", str(c["H"]),
           "--L", str(c["L"]), "--steps", str(args.steps or c["K"]), "--warmup", str(WARMUP),
           "--threads", str(threads), "--head_gemm", head_gemm(args, threads)]
    out, other = run_measured(cmd, args.timeout)
    lines = [x for x in out.splitlines() if x.startswith("RESULT ")]
    if not lines:
        fail(f"no RESULT line from {' '.join(cmd)}", 1)
    kv = dict(item.split("=", 1) for item in lines[-1].split()[1:] if "=" in item)
    return dict(tokens_per_s=float(kv["tok_per_s"]), ms_per_step=float(kv["ms_per_step"]), other_cores=other,
                other_cores_timed=float(kv.get("other_cores", "nan")))


def run_pytorch(args, config, cell, threads):
    """compare_pytorch.py's worker: the same workload in Debian's PyTorch 1.13, its best settings
    here (1 intra-op thread per thread, OpenBLAS matched, OMP_WAIT_POLICY=passive)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), OMP_WAIT_POLICY="passive")
    cmd = [PYTORCH_PYTHON, os.path.join(HERE, "compare_pytorch.py"), "--worker", "--configs", config, "--cells", cell,
           "--threads", str(threads), "--steps", str(args.steps)]
    out, other = run_measured(cmd, args.timeout, env=env)
    return dict(tokens_per_s=json.loads(out.strip().splitlines()[-1])["tokens_per_s"], other_cores=other)


def has_torch():
    return subprocess.run([PYTORCH_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0


# ------------------------------------------------------------------------- the reference
def has_dnnl_header():
    return any(os.path.isfile(os.path.join(d, DNNL_HEADER)) for d in INCLUDE_DIRS)


def onednn_binary(args):
    """The reference binary, built with its build.sh when missing or older than its source."""
    ref = os.path.abspath(args.reference)
    source, build = os.path.join(ref, "bench_rnn_onednn.cpp"), os.path.join(ref, "build.sh")
    if not os.path.isdir(ref):
        fail(f"the oneDNN reference is not at {ref} (it lives in ../shared/reference/onednn beside the "
             f"repository, which users do not have; give its folder with --reference DIR)")
    if not (os.path.isfile(source) and os.path.isfile(build)):
        fail(f"{ref} is not the oneDNN reference (no bench_rnn_onednn.cpp and build.sh there)")
    workdir = os.path.abspath(args.workdir)
    if os.path.commonpath([workdir, ref]) == ref:
        fail(f"--workdir {workdir} is inside the reference folder, which is read-only; build elsewhere")
    binary = os.path.join(workdir, "bench_rnn_onednn")
    if os.path.isfile(binary) and os.path.getmtime(binary) >= max(os.path.getmtime(source), os.path.getmtime(build)):
        return binary
    if not has_dnnl_header():
        fail(f"oneDNN is not installed (no {DNNL_HEADER}), so the reference cannot be built: {INSTALL_HINT}")
    os.makedirs(workdir, exist_ok=True)
    print(f"building the oneDNN reference: sh {build} {binary}", file=sys.stderr, flush=True)
    p = subprocess.run(["sh", build, binary], capture_output=True, text=True)
    if p.returncode != 0 or not os.path.isfile(binary):
        sys.stderr.write(p.stdout + p.stderr)
        fail(f"building the oneDNN reference failed (exit {p.returncode}; it needs libdnnl-dev and "
             f"libopenblas-dev: apt-get install libdnnl-dev libopenblas-dev)")
    return binary


# ------------------------------------------------------------------------- one pair, one row
def measure_pair(args, wait_quiet, binary, config, cell, threads, label):
    """Gate, then tapegrad and oneDNN back to back; reruns a noisy pair up to --retries times.
    Returns the clean attempt, or the least loaded one flagged noisy."""
    attempts = []
    for attempt in range(1 + args.retries):
        t0 = time.time()
        gate_other = wait_quiet(max_other=args.max_other, window=2.0, timeout=args.max_wait)
        waited = time.time() - t0
        gate_ok = gate_other < args.max_other
        a = run_tapegrad(args, config, cell, threads)
        b = run_onednn(args, binary, config, cell, threads)
        c = run_pytorch(args, config, cell, threads) if args.pytorch else None
        worst = max(a["other_cores"], b["other_cores"], c["other_cores"] if c else 0.0)
        noisy = not gate_ok or worst > args.max_other
        pair = dict(tapegrad=a["tokens_per_s"], onednn=b["tokens_per_s"], ratio=a["tokens_per_s"] / b["tokens_per_s"],
                    gate_wait_s=waited, gate_other_cores=gate_other, gate_ok=gate_ok,
                    tapegrad_other_cores=a["other_cores"], onednn_other_cores=b["other_cores"],
                    onednn_other_cores_timed=b["other_cores_timed"], noisy=noisy, attempts=attempt + 1)
        if a["gemm_ms"] is not None:  # the same GEMMs as a share of each engine's step
            pair.update(tapegrad_gemm_share=a["gemm_ms"] / a["ms_per_step"], onednn_gemm_share=a["gemm_ms"] / b["ms_per_step"])
        if c:
            pair.update(pytorch=c["tokens_per_s"], pytorch_ratio=a["tokens_per_s"] / c["tokens_per_s"],
                        pytorch_other_cores=c["other_cores"])
        print(f"{label} attempt {attempt + 1}: gate {'quiet' if gate_ok else 'TIMED OUT'} after {waited:.0f} s "
              f"(others {gate_other:.2f} cores) | tapegrad {a['tokens_per_s']:.0f} tok/s (others "
              f"{a['other_cores']:.2f}) | oneDNN {b['tokens_per_s']:.0f} tok/s (others {b['other_cores']:.2f}, "
              f"{b['other_cores_timed']:.2f} in its timed steps) | ratio {pair['ratio']:.2f} | "
              + (f"PyTorch {c['tokens_per_s']:.0f} tok/s (others {c['other_cores']:.2f}) | " if c else "")
              + f"{'NOISY' if noisy else 'clean'}", file=sys.stderr, flush=True)
        attempts.append(pair)
        if not noisy:
            return pair
    best = min(attempts, key=lambda p: (not p["gate_ok"], max(p["tapegrad_other_cores"], p["onednn_other_cores"],
                                                              p.get("pytorch_other_cores", 0.0))))
    best["attempts"] = len(attempts)
    return best


def spread(values):
    return [min(values), statistics.median(values), max(values)]


def parse_list(text, allowed, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if not items or bad:
        fail(f"--{what}: {', '.join(bad) or '(empty)'} is not one of {', '.join(allowed)}")
    return items


def rate_cells(s):
    """A tokens/s spread as a table cell: min / median / max."""
    return f"{s[0]:.0f} / {s[1]:.0f} / {s[2]:.0f}"


def ratio_cells(s):
    """A ratio spread as a table cell, the median in bold."""
    return f"{s[0]:.2f} / **{s[1]:.2f}** / {s[2]:.2f}"


def print_tables(rows, pytorch):
    """The markdown table of the rows, then the GEMM-share table for the rows of one model."""
    torch_head = " PyTorch tok/s min / median / max | ratio tapegrad/PyTorch min / median / max |" if pytorch else ""
    print("| config | cell | threads | tapegrad shards | oneDNN head | tapegrad tok/s min / median / max | oneDNN tok/s "
          "min / median / max | ratio tapegrad/oneDNN min / median / max |" + torch_head +
          " noisy pairs | reruns | max other cores |")
    print("|---" * (11 + (2 if pytorch else 0)) + "|")
    for r in rows:
        torch_cells = f" {rate_cells(r['pytorch'])} | {ratio_cells(r['pytorch_ratio'])} |" if pytorch else ""
        print(f"| {r['config']} | {r['cell']} | {r['threads']} | {r['shards']} | {r['head_gemm']} | "
              f"{rate_cells(r['tapegrad'])} | {rate_cells(r['onednn'])} | {ratio_cells(r['ratio'])} |{torch_cells} "
              f"{r['noisy_pairs']}/{r['pairs']} | {r['reruns']} | {r['max_other_cores']:.2f} |")
    share_rows = [r for r in rows if r["tapegrad_gemm_share"]]
    if share_rows:  # the utilization yardstick applied to both engines (one model, not sharded)
        print("\nThe step's GEMMs replayed alone (tapegrad_bench's utilization yardstick) as a share of each "
              "engine's step time:\n")
        print("| config | cell | threads | tapegrad (its utilization) min / median / max | "
              "oneDNN's step min / median / max |")
        print("|---" * 5 + "|")
        for r in share_rows:
            print(f"| {r['config']} | {r['cell']} | {r['threads']} | {ratio_cells(r['tapegrad_gemm_share'])} | "
                  f"{ratio_cells(r['onednn_gemm_share'])} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "reference", "onednn"),
                   help="the oneDNN reference folder (default: <repo>/../shared/reference/onednn)")
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "onednn_reference"),
                   help="where the reference binary is built (default: <repo>/build/onednn_reference)")
    p.add_argument("--tapegrad-bench", default=os.path.join(ROOT, "build", "bin", "tapegrad_bench"))
    p.add_argument("--configs", default="S,M", help="comma-separated: S,M")
    p.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated: lstm,gru,rnn")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--rounds", type=int, default=5, help="tapegrad/oneDNN pairs per row (default 5)")
    p.add_argument("--steps", type=int, default=0, help="timed steps (default: 100 for S, 6 for M)")
    p.add_argument("--head-gemm", choices=("auto", "openblas", "dnnl"), default="auto",
                   help="oneDNN's --head_gemm (auto: openblas at 1 thread, dnnl at more)")
    p.add_argument("--shards", default="1",
                   help="tapegrad at more than one thread: 'threads' trains one data-parallel shard per thread "
                        "(tapegrad_bench --shards), a number that many; default 1 (threads inside the ops)")
    p.add_argument("--shard-configs", default="S,M", help="the configs --shards applies to (default S,M)")
    p.add_argument("--pytorch", action="store_true",
                   help="run PyTorch (compare_pytorch.py's worker, Debian's python3-torch) in every round too")
    p.add_argument("--max-other", type=float, default=0.10, help="cores other processes may use (default 0.10)")
    p.add_argument("--max-wait", type=float, default=120.0,
                   help="seconds the gate waits for quiet before each attempt, then runs it flagged noisy (120)")
    p.add_argument("--retries", type=int, default=2, help="reruns of a noisy pair (default 2)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds one benchmark run may take (900)")
    p.add_argument("--json", action="store_true", help="also print one JSON line per row")
    args = p.parse_args()

    binary = onednn_binary(args)  # first: a missing reference is the common failure
    if not os.access(args.tapegrad_bench, os.X_OK):
        fail(f"build tapegrad_bench first (missing {args.tapegrad_bench}; or give --tapegrad-bench PATH)")
    configs = parse_list(args.configs, tuple(CONFIGS), "configs")
    cells = parse_list(args.cells, CELLS, "cells")
    threads_list = [int(t) for t in parse_list(args.threads, tuple(str(i) for i in range(1, 257)), "threads")]
    if args.rounds < 1 or args.retries < 0 or args.steps < 0 or args.max_wait < 0:
        fail("--rounds must be >= 1 and --retries, --steps, --max-wait >= 0")
    if args.shards != "threads" and not (args.shards.isdigit() and int(args.shards) >= 1):
        fail(f"--shards: '{args.shards}' is neither 'threads' nor a count >= 1")
    args.shard_configs = parse_list(args.shard_configs, tuple(CONFIGS), "shard-configs")
    if args.pytorch and not has_torch():
        fail(f"--pytorch: PyTorch is not installed for {PYTORCH_PYTHON} (apt-get install python3-torch)")
    wait_quiet, gate_source = load_wait_quiet(os.path.abspath(args.reference))
    print(f"oneDNN reference: {binary}; quiet gate: {gate_source} (others < {args.max_other:.2f} cores, "
          f"wait <= {args.max_wait:.0f} s, {args.retries} retries)", file=sys.stderr, flush=True)

    rows = []
    for config in configs:
        for cell in cells:
            for threads in threads_list:
                pairs = []
                for r in range(args.rounds):
                    label = f"{config} {cell} threads {threads} pair {r + 1}/{args.rounds}"
                    pairs.append(measure_pair(args, wait_quiet, binary, config, cell, threads, label))
                shares = all("tapegrad_gemm_share" in q for q in pairs)
                rows.append(dict(
                    config=config, cell=cell, threads=threads, shards=shards(args, config, threads),
                    head_gemm=head_gemm(args, threads),
                    steps=args.steps or CONFIGS[config]["K"], warmup=WARMUP, pairs=len(pairs),
                    tapegrad=spread([q["tapegrad"] for q in pairs]), onednn=spread([q["onednn"] for q in pairs]),
                    ratio=spread([q["ratio"] for q in pairs]),
                    tapegrad_gemm_share=spread([q["tapegrad_gemm_share"] for q in pairs]) if shares else None,
                    onednn_gemm_share=spread([q["onednn_gemm_share"] for q in pairs]) if shares else None,
                    pytorch=spread([q["pytorch"] for q in pairs]) if args.pytorch else None,
                    pytorch_ratio=spread([q["pytorch_ratio"] for q in pairs]) if args.pytorch else None,
                    noisy_pairs=sum(q["noisy"] for q in pairs), reruns=sum(q["attempts"] - 1 for q in pairs),
                    max_other_cores=max(max(q["tapegrad_other_cores"], q["onednn_other_cores"],
                                            q.get("pytorch_other_cores", 0.0)) for q in pairs),
                    pair_results=pairs))

    print_tables(rows, args.pytorch)
    if args.json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
