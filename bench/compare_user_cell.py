#!/usr/bin/env python3
"""A user's cell against the built-in LSTM, per GEMM FLOP (issue 20's user-cell gate).

Runs tapegrad_bench --cell lstm and --cell lnlstm (the LayerNorm-LSTM cell in a generic
Recurrent, written as a user would write a cell) alternately, --rounds pairs, each behind the
quiet gate of compare_onednn.py, and compares their milliseconds per GEMM GFLOP of the step:
the same GEMMs either way, so the ratio is what the user cell's other work costs beyond the
built-in cell's. Prints one progress line per pair (stderr), then a markdown table with the
min / median / max of each and of the per-pair ratio lnlstm / lstm, and whether the median is
within --gate (1.15: within 15%). Standard library only: run with /usr/bin/python3.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_onednn as shared  # noqa: E402 - the quiet gate and measured runs

shared.PROG = os.path.basename(sys.argv[0])  # its error lines name this script



def run(args, cell):
    cmd = [args.tapegrad_bench, "--config", args.config, "--cell", cell, "--threads", str(args.threads), "--json"]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    out, other = shared.run_measured(cmd, args.timeout)
    return json.loads(out.strip().splitlines()[-1])["ms_per_gemm_gflop"], other


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tapegrad-bench", default=os.path.join(root, "build", "bin", "tapegrad_bench"))
    p.add_argument("--config", default="S", choices=["S", "M"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=0, help="timed steps per run (default: the config's)")
    p.add_argument("--gate", type=float, default=1.15)
    p.add_argument("--max-other", type=float, default=0.10)
    p.add_argument("--max-wait", type=float, default=900.0)
    p.add_argument("--timeout", type=float, default=1800.0)
    args = p.parse_args()
    if not os.access(args.tapegrad_bench, os.X_OK):
        shared.fail(f"no tapegrad_bench at {args.tapegrad_bench} (build it, or pass --tapegrad-bench)")
    lstm, user, ratios = [], [], []
    for r in range(args.rounds):
        gate_other = shared._local_wait_quiet(max_other=args.max_other, window=2.0, timeout=args.max_wait)
        a, a_other = run(args, "lstm")
        b, b_other = run(args, "lnlstm")
        lstm.append(a)
        user.append(b)
        ratios.append(b / a)
        noisy = max(gate_other, a_other, b_other) > args.max_other
        print(f"pair {r + 1}: lstm {a:.2f} ms/GFLOP, lnlstm {b:.2f} ms/GFLOP, ratio {b / a:.3f}"
              f"{' (NOISY: others used ' + format(max(gate_other, a_other, b_other), '.2f') + ' cores)' if noisy else ''}",
              file=sys.stderr, flush=True)

    def spread(v):
        return " / ".join(f"{x:.2f}" for x in (min(v), statistics.median(v), max(v)))

    median = statistics.median(ratios)
    print("| config | threads | lstm ms per GEMM GFLOP min / median / max | lnlstm ms per GEMM GFLOP min / median / max "
          "| ratio lnlstm / lstm min / median / max | gate |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.config} | {args.threads} | {spread(lstm)} | {spread(user)} | {spread(ratios)} | "
          f"{'met' if median <= args.gate else 'NOT met'} (<= {args.gate:.2f}) |")


if __name__ == "__main__":
    main()
