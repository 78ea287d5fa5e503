#!/usr/bin/python3
"""char_lm against the PyTorch reference script, side by side on the char-LM config.

The workload of ../shared/reference/pytorch_char_lm.py (tinyshakespeare, Embedding(V, 64) ->
LSTM(256) -> Linear, Adam 2e-3, clip 5, B 32, T 64, carried state) runs in tapegrad's char_lm
and in PyTorch, alternating A B A B for --rounds rounds, at each requested thread count.
Each run trains --steps steps; tokens/s counts training only, in both. PyTorch at 2 threads
runs with OMP_WAIT_POLICY=passive (its best setting here; its default spins against OpenBLAS).
Prints min / median / max tokens/s per engine and the ratio of the medians, then one JSON line.
Needs Debian's python3-torch: run with /usr/bin/python3.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_tapegrad(args, threads):
    cmd = [args.char_lm, "train", "--data", args.data, "--cell", "lstm", "--layers", "1", "--embed", "64",
           "--hidden", "256", "--batch", "32", "--block", "64", "--optim", "adam", "--lr", "2e-3", "--clip", "5",
           "--steps", str(args.steps), "--val-every", "1000000", "--print-every", "1000000", "--seed", "0",
           "--threads", str(threads), "--checkpoint", os.path.join(args.workdir, "bench.safetensors"), "--overwrite", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["tokens_per_s"]


def run_pytorch(args, threads):
    env = dict(os.environ)
    if threads > 1:
        env["OMP_WAIT_POLICY"] = "passive"
    cmd = ["/usr/bin/python3", args.reference, "--data", args.data, "--steps", str(args.steps),
           "--eval_every", "1000000", "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(args.reference)).stdout
    return float(re.search(r"tok_per_s=(\d+)", out).group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--char-lm", default=os.path.join(ROOT, "build", "bin", "char_lm"))
    p.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "reference", "pytorch_char_lm.py"))
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt"))
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--workdir", default="/tmp")
    args = p.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("compare_char_lm.py: PyTorch is NOT installed for this interpreter (" + sys.executable +
                 "); install Debian's python3-torch and run with /usr/bin/python3")
    for path in (args.char_lm, args.reference, args.data):
        if not os.path.exists(path):
            sys.exit("compare_char_lm.py: missing " + path)
    results = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        tg, pt = [], []
        for r in range(args.rounds):
            tg.append(run_tapegrad(args, threads))
            pt.append(run_pytorch(args, threads))
            print(f"threads {threads} round {r + 1}: tapegrad {tg[-1]:.0f} tok/s, PyTorch {pt[-1]:.0f} tok/s", flush=True)
        ratio = statistics.median(tg) / statistics.median(pt)
        results[threads] = {"tapegrad": [min(tg), statistics.median(tg), max(tg)],
                            "pytorch": [min(pt), statistics.median(pt), max(pt)], "ratio": ratio}
    print()
    print("| threads | tapegrad tok/s min / median / max | PyTorch tok/s min / median / max | median ratio |")
    print("|---|---|---|---|")
    for threads, r in results.items():
        t, q = r["tapegrad"], r["pytorch"]
        print(f"| {threads} | {t[0]:.0f} / {t[1]:.0f} / {t[2]:.0f} | {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | {r['ratio']:.2f}x |")
    best_pt = max(r["pytorch"][1] for r in results.values())
    print(json.dumps({"steps": args.steps, "rounds": args.rounds, "results": results,
                      "pytorch_best_median": best_pt,
                      "tapegrad_vs_pytorch_best": {t: r["tapegrad"][1] / best_pt for t, r in results.items()}}))


if __name__ == "__main__":
    main()
