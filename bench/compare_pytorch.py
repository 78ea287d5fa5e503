#!/usr/bin/python3
"""tapegrad_bench against the same workload in PyTorch, side by side (DESIGN §6).

Embedding(V=65, E) -> LSTM/GRU/RNN (L layers, hidden H) -> Linear(H, V) -> cross-entropy, Adam
lr 2e-3, clip-norm 5, TBPTT with detach, float32, random tokens, fixed seed; 3 warm-up steps,
then K timed steps. S: B=32 T=64 E=64 H=128 L=1 (K=100); M: B=64 T=100 E=128 H=512 L=2 (K=6).
The two engines alternate A B A B ... --rounds times (at least 5) in this one invocation; each
PyTorch run is a fresh process with 1 intra-op thread per requested thread, OpenBLAS threads
matched, and OMP_WAIT_POLICY=passive (PyTorch's best setting here: its default spins against
OpenBLAS and gets slower at 2 threads). Prints min / median / max tokens/s of each and the
median ratio, utilization, and the memory of each (peak RSS, and its growth above the RSS after
warm-up), then one JSON line. Needs Debian's python3-torch: run with /usr/bin/python3.
"""
import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = {"S": dict(B=32, T=64, E=64, H=128, L=1, K=100), "M": dict(B=64, T=100, E=128, H=512, L=2, K=6)}


def pytorch_worker(config, cell, threads, steps):
    """Runs the workload in PyTorch in this process and prints one JSON line."""
    import ctypes
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(threads)
    torch.manual_seed(0)
    c = CONFIGS[config]
    V, B, T, E, H, L = 65, c["B"], c["T"], c["E"], c["H"], c["L"]
    K = steps or c["K"]
    rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    emb, rnn, out = nn.Embedding(V, E), rnn_cls(E, H, num_layers=L), nn.Linear(H, V)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    xs = [torch.randint(V, (T, B)) for _ in range(4)]
    ys = [torch.randint(V, (T, B)) for _ in range(4)]
    state = [None]

    def step(k):
        h = state[0]
        if h is not None:
            h = tuple(t.detach() for t in h) if isinstance(h, tuple) else h.detach()
        opt.zero_grad(set_to_none=True)
        y, state[0] = rnn(emb(xs[k % 4]), h)
        loss = F.cross_entropy(out(y).reshape(-1, V), ys[k % 4].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    for k in range(3):
        step(k)
    rss_baseline = rss_mb()  # after warm-up, as tapegrad_bench measures it
    t0 = time.perf_counter()
    for k in range(K):
        step(3 + k)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux
    print(json.dumps({"tokens_per_s": B * T * K / seconds, "ms_per_step": 1000 * seconds / K,
                      "rss_baseline_mb": rss_baseline, "peak_rss_mb": peak}))


def rss_mb():
    """Resident set size of this process now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_tapegrad(args, config, cell, threads):
    cmd = [args.bench, "--config", config, "--cell", cell, "--threads", str(threads), "--json"]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def run_pytorch(args, config, cell, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), OMP_WAIT_POLICY="passive")
    cmd = ["/usr/bin/python3", os.path.abspath(__file__), "--worker", "--configs", config, "--cells", cell,
           "--threads", str(threads), "--steps", str(args.steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bin", "tapegrad_bench"))
    p.add_argument("--configs", default="S", help="comma-separated: S,M")
    p.add_argument("--cells", default="lstm,gru,rnn")
    p.add_argument("--threads", default="1", help="comma-separated thread counts")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=0, help="timed steps (default: 100 for S, 6 for M)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    # find_spec, not import: a parent holding torch would hand its ~250 MB peak RSS to every child
    # (ru_maxrss survives fork and exec), so the children's peak RSS figures would be the parent's.
    if importlib.util.find_spec("torch") is None:
        sys.exit("compare_pytorch.py: PyTorch is NOT installed for " + sys.executable +
                 ": install Debian's python3-torch and run with /usr/bin/python3")
    if args.worker:
        return pytorch_worker(args.configs, args.cells, int(args.threads), args.steps)
    if args.rounds < 5:
        sys.exit("compare_pytorch.py: --rounds must be at least 5")
    if not os.path.exists(args.bench):
        sys.exit("compare_pytorch.py: build tapegrad_bench first (missing " + args.bench + ")")
    rows = []
    for config in args.configs.split(","):
        for cell in args.cells.split(","):
            for threads in [int(t) for t in args.threads.split(",")]:
                tg, pt, util, tg_rss, pt_rss = [], [], [], [], []
                for r in range(args.rounds):
                    a = run_tapegrad(args, config, cell, threads)
                    b = run_pytorch(args, config, cell, threads)
                    tg.append(a["tokens_per_s"])
                    util.append(a["utilization"])
                    pt.append(b["tokens_per_s"])
                    tg_rss.append((a["peak_rss_mb"], a["peak_rss_mb"] - a["rss_baseline_mb"]))
                    pt_rss.append((b["peak_rss_mb"], b["peak_rss_mb"] - b["rss_baseline_mb"]))
                    print(f"{config} {cell} threads {threads} round {r + 1}: tapegrad {tg[-1]:.0f} tok/s "
                          f"(utilization {util[-1]:.2f}), PyTorch {pt[-1]:.0f} tok/s", flush=True)
                rows.append(dict(config=config, cell=cell, threads=threads,
                                 tapegrad=[min(tg), statistics.median(tg), max(tg)],
                                 pytorch=[min(pt), statistics.median(pt), max(pt)],
                                 utilization=statistics.median(util),
                                 tapegrad_peak_rss_mb=statistics.median(x[0] for x in tg_rss),
                                 tapegrad_rss_growth_mb=statistics.median(x[1] for x in tg_rss),
                                 pytorch_peak_rss_mb=statistics.median(x[0] for x in pt_rss),
                                 pytorch_rss_growth_mb=statistics.median(x[1] for x in pt_rss),
                                 ratio=statistics.median(tg) / statistics.median(pt)))
    print()
    print("| config | cell | threads | tapegrad tok/s min / median / max | PyTorch tok/s min / median / max | ratio "
          "| utilization | peak RSS MiB tapegrad / PyTorch | RSS growth MiB tapegrad / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t, q = r["tapegrad"], r["pytorch"]
        print(f"| {r['config']} | {r['cell']} | {r['threads']} | {t[0]:.0f} / {t[1]:.0f} / {t[2]:.0f} | "
              f"{q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | {r['ratio']:.2f}x | {r['utilization']:.2f} | "
              f"{r['tapegrad_peak_rss_mb']:.0f} / {r['pytorch_peak_rss_mb']:.0f} | "
              f"{r['tapegrad_rss_growth_mb']:.1f} / {r['pytorch_rss_growth_mb']:.1f} |")
    print(json.dumps({"rounds": args.rounds, "results": rows}))


if __name__ == "__main__":
    main()
