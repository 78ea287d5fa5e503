#!/usr/bin/env python3
"""Two builds of tapegrad_bench against each other: what a change bought (A/B).

Runs --new and --old (two tapegrad_bench binaries, say this build and one of the previous
commit in another folder) alternately on the same workload, --rounds pairs per config / cell /
threads, each pair behind the quiet gate of compare_onednn.py; the order within a pair flips
every round, so a drift of the host's speed does not favour one side. Prints one progress line
per pair (stderr), then a markdown table: tokens/s min / median / max of each and of the
per-pair ratio new / old (above 1: the new build is faster). Standard library only: run with
/usr/bin/python3.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_onednn as shared  # noqa: E402 - the quiet gate, measured runs, spread, lists

shared.PROG = os.path.basename(sys.argv[0])  # its error lines name this script


def run(args, bench, config, cell, threads):
    cmd = [bench, "--config", config, "--cell", cell, "--threads", str(threads), "--json"]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    out, other = shared.run_measured(cmd, args.timeout)
    return json.loads(out.strip().splitlines()[-1])["tokens_per_s"], other


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--new", required=True, help="tapegrad_bench of the change")
    p.add_argument("--old", required=True, help="tapegrad_bench of the baseline")
    p.add_argument("--configs", default="S")
    p.add_argument("--cells", default="lstm,gru,rnn")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=0, help="timed steps per run (default: the config's)")
    p.add_argument("--max-other", type=float, default=0.10)
    p.add_argument("--max-wait", type=float, default=900.0)
    p.add_argument("--timeout", type=float, default=1800.0)
    args = p.parse_args()
    for bench in (args.new, args.old):
        if not os.access(bench, os.X_OK):
            shared.fail(f"no tapegrad_bench at {bench}")
    configs = shared.parse_list(args.configs, ("S", "M"), "configs")
    cells = shared.parse_list(args.cells, ("lstm", "gru", "rnn", "lnlstm"), "cells")
    threads = [int(t) for t in shared.parse_list(args.threads, [str(n) for n in range(1, 257)], "threads")]
    rows = []
    for config in configs:
        for cell in cells:
            for n in threads:
                new, old, ratios = [], [], []
                for r in range(args.rounds):
                    gate = shared._local_wait_quiet(max_other=args.max_other, window=2.0, timeout=args.max_wait)
                    order = (args.new, args.old) if r % 2 == 0 else (args.old, args.new)
                    got = {b: run(args, b, config, cell, n) for b in order}
                    a, b = got[args.new][0], got[args.old][0]
                    others = max(gate, got[args.new][1], got[args.old][1])
                    new.append(a)
                    old.append(b)
                    ratios.append(a / b)
                    print(f"{config} {cell} {n}t pair {r + 1}: new {a:.0f} tok/s, old {b:.0f} tok/s, ratio {a / b:.3f}"
                          f"{' (NOISY: others used ' + format(others, '.2f') + ' cores)' if others > args.max_other else ''}",
                          file=sys.stderr, flush=True)
                rows.append((config, cell, n, shared.spread(new), shared.spread(old), shared.spread(ratios)))
    print("| config | cell | threads | new tok/s min / median / max | old tok/s min / median / max | new / old |")
    print("|---|---|---|---|---|---|")
    for config, cell, n, a, b, q in rows:
        print(f"| {config} | {cell} | {n} | {shared.rate_cells(a)} | {shared.rate_cells(b)} | {shared.ratio_cells(q)} |")


if __name__ == "__main__":
    main()
