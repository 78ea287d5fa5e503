#!/usr/bin/env python3
"""Full BPTT in bounded memory: tapegrad_bptt_bench, plain against checkpointed, each run in its
own process (peak RSS is per process), alternating plain and checkpointed per round, on a quiet
machine (the cpuload.py gate of ../shared/reference when it is there).

  /usr/bin/python3 bench/bptt_memory.py --bench build/bin/tapegrad_bptt_bench [--rounds 3] [--json]

Prints a Markdown table: peak RSS, time per token and the checkpointed/plain time ratio (median,
min, max over the rounds) at T = 1,000 and 10,000, and the checkpointed run alone at 100,000
(plain storage would need the per-step graph times T: the estimate is printed).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "reference"))
try:
    import cpuload  # noqa: E402
except ImportError:  # end users have no ../shared: run without the gate
    cpuload = None


def run(bench, args):
    if cpuload:
        cpuload.wait_quiet(max_other=0.1, timeout=300)
    out = subprocess.run([bench, "--json", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "build", "bin", "tapegrad_bptt_bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget-mib", type=float, default=256)
    ap.add_argument("--long", type=int, default=100000, help="the length run checkpointed only")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ck = ["--mode", "checkpoint", "--budget-mib", str(a.budget_mib)]
    rows = []
    for T in (1000, 10000):
        plain, check, ratios = [], [], []
        for r in range(a.rounds):
            order = [("plain", ["--mode", "plain"]), ("check", ck)]
            if r % 2:
                order.reverse()
            got = {name: run(a.bench, ["--steps", str(T), *args]) for name, args in order}
            plain.append(got["plain"])
            check.append(got["check"])
            ratios.append(got["check"]["us_per_token"] / got["plain"]["us_per_token"])
            print(f"T={T} round {r}: plain {got['plain']['us_per_token']:.2f} us/token "
                  f"{got['plain']['peak_rss_mib']:.0f} MiB, checkpointed {got['check']['us_per_token']:.2f} "
                  f"us/token {got['check']['peak_rss_mib']:.0f} MiB (k={got['check']['segment_steps']}), "
                  f"ratio {ratios[-1]:.3f}", file=sys.stderr, flush=True)
        rows.append({"steps": T, "plain_rss_mib": max(p["peak_rss_mib"] for p in plain),
                     "check_rss_mib": max(c["peak_rss_mib"] for c in check),
                     "plain_us_per_token": statistics.median(p["us_per_token"] for p in plain),
                     "check_us_per_token": statistics.median(c["us_per_token"] for c in check),
                     "segment_steps": check[0]["segment_steps"],
                     "graph_mib_per_step": plain[0]["graph_mib_after_forward"] / T,
                     "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)})
    long_run = run(a.bench, ["--steps", str(a.long), *ck])
    per_step = rows[-1]["graph_mib_per_step"]
    rows.append({"steps": a.long, "plain_rss_mib": None, "plain_estimate_mib": per_step * a.long,
                 "check_rss_mib": long_run["peak_rss_mib"], "check_us_per_token": long_run["us_per_token"],
                 "segment_steps": long_run["segment_steps"]})
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print("| T | plain peak RSS | checkpointed peak RSS (k) | plain µs/token | checkpointed µs/token | "
          "checkpointed / plain time (median, min–max) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["plain_rss_mib"] is None:
            print(f"| {r['steps']:,} | ~{r['plain_estimate_mib'] / 1024:.0f} GiB (estimate: the graph alone) | "
                  f"{r['check_rss_mib']:.0f} MiB ({r['segment_steps']}) | – | {r['check_us_per_token']:.2f} | – |")
        else:
            print(f"| {r['steps']:,} | {r['plain_rss_mib']:.0f} MiB | {r['check_rss_mib']:.0f} MiB "
                  f"({r['segment_steps']}) | {r['plain_us_per_token']:.2f} | {r['check_us_per_token']:.2f} | "
                  f"{r['ratio_median']:.2f} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) |")


if __name__ == "__main__":
    main()
