#!/usr/bin/python3
"""The ten-minute char_lm recipe: the proxy search that chose it, and tapegrad against PyTorch.

  search   trains each candidate recipe for about --budget seconds (default 150) at 2 threads:
           a short calibration run measures its tokens/s, then the real run gets the step count
           that fills the budget, with its schedule (cosine, warm-up) planned over exactly those
           steps. Prints and writes (--out/search.jsonl) the validation loss of each.
  compare  the preset (`char_lm train --preset tinyshakespeare-10min`) against the same recipe
           in PyTorch (bench/pytorch_char_lm.py) for the same training time, per seed, the
           engines alternating in order from seed to seed. PyTorch gets the step count that fills
           tapegrad's measured training seconds (from a calibration run at its best thread setting,
           OMP_WAIT_POLICY=passive at 2 threads), so both cosine schedules end at the end of the
           budget. Writes both engines' CSV logs, tapegrad's checkpoint per seed
           (preset_seedN.safetensors, for eval --dynamic-tune), a summary JSON and an SVG of
           validation loss against training seconds (--out).

Every time is training time: validation, sampling and saving are excluded (char_lm's
train_seconds column, the PyTorch script's the same). Needs ../shared/data/tinyshakespeare.txt
(or --data) and, for compare, Debian's python3-torch: run with /usr/bin/python3.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PRESET = "tinyshakespeare-10min"

# The candidates of the proxy search (flags beyond these are char_lm's defaults: E 64, seed 0).
CANDIDATES = {
    "reference": "--cell lstm --hidden 256 --optim adam --lr 2e-3 --clip 5",
    "lstm256-cos": "--cell lstm --hidden 256 --optim adamw --lr 3e-3 --lr-schedule cosine --warmup 100 --clip 1",
    "lstm384-cos": "--cell lstm --hidden 384 --optim adamw --lr 3e-3 --lr-schedule cosine --warmup 100 --clip 1",
    "lstm512-cos": "--cell lstm --hidden 512 --optim adamw --lr 3e-3 --lr-schedule cosine --warmup 100 --clip 1",
    "gru256-cos": "--cell gru --hidden 256 --optim adamw --lr 3e-3 --lr-schedule cosine --warmup 100 --clip 1",
    "gru384-cos": "--cell gru --hidden 384 --optim adamw --lr 3e-3 --lr-schedule cosine --warmup 100 --clip 1",
    "gru512-cos": "--cell gru --hidden 512 --optim adamw --lr 3e-3 --lr-schedule cosine --warmup 100 --clip 1",
    "gru512-b64": "--cell gru --hidden 512 --batch 64 --optim adamw --lr 4e-3 --lr-schedule cosine --warmup 100 --clip 1",
}


def flag_value(flags, name, default):
    parts = flags.split()
    return parts[parts.index(name) + 1] if name in parts else default


def tokens_per_step(flags):
    return int(flag_value(flags, "--batch", "32")) * int(flag_value(flags, "--block", "64"))


def run_json(cmd, env=None):
    """Runs an engine to completion; its last stdout line is its --json result."""
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        sys.exit(f"char_lm_recipe.py: {' '.join(cmd)} failed ({run.returncode}): {run.stderr.strip()}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def char_lm(args, flags, steps, out, log=None, extra="", checkpoint="run.safetensors"):
    cmd = [args.char_lm, "train", "--data", args.data, "--threads", str(args.threads), "--print-every", "1000000",
           "--checkpoint", os.path.join(out, checkpoint), "--overwrite", "--json"]
    cmd += (["--steps", str(steps)] if steps else []) + flags.split() + extra.split()
    if log:
        cmd += ["--log", log]
    return run_json(cmd)


def pytorch(args, flags, steps, log=None, extra=""):
    env = dict(os.environ)
    if args.threads > 1:
        env["OMP_WAIT_POLICY"] = "passive"  # its best setting at 2 threads (compare_char_lm.py)
    cmd = ["/usr/bin/python3", os.path.join(HERE, "pytorch_char_lm.py"), "--data", args.data, "--threads",
           str(args.threads), "--steps", str(steps), "--print-every", "1000000", "--json"]
    cmd += flags.split() + extra.split()
    if log:
        cmd += ["--log", log]
    return run_json(cmd, env=env)


def steps_for(result, flags, budget):
    """The step count that fills `budget` training seconds at the measured rate."""
    return max(1, round(budget * result["tokens_per_s"] / tokens_per_step(flags)))


def search(args):
    os.makedirs(args.out, exist_ok=True)
    names = args.configs.split(",") if args.configs else list(CANDIDATES)
    with open(os.path.join(args.out, "search.jsonl"), "a") as out:
        for name in names:
            flags = CANDIDATES[name]
            calibration = char_lm(args, flags, args.calibration_steps, args.out, extra="--val-fraction 0.01")
            steps = steps_for(calibration, flags, args.budget)
            r = char_lm(args, flags, steps, args.out, extra=f"--val-every {steps}")
            row = {"name": name, "flags": flags, "steps": steps, "train_seconds": r["seconds"],
                   "val_loss": r["val_loss"], "val_bpc": r["val_bpc"], "tokens_per_s": r["tokens_per_s"]}
            print(json.dumps(row), flush=True)
            out.write(json.dumps(row) + "\n")
            out.flush()


def preset_flags(args):
    """The preset's recipe as flags, read back from a 1-step run's checkpoint metadata."""
    out = os.path.join(args.out, "preset_probe")
    os.makedirs(out, exist_ok=True)
    steps = None if "--steps" in args.override.split() else 1
    char_lm(args, f"--preset {PRESET} {args.override}", steps, out, extra="--val-fraction 0.01")
    meta = read_metadata(os.path.join(out, "run.safetensors"))
    keys = {"--cell": "model.cell", "--layers": "model.layers", "--hidden": "model.hidden", "--embed": "model.embed",
            "--dropout": "model.dropout", "--batch": "train.batch", "--block": "train.block", "--optim": "train.optim",
            "--lr": "train.lr", "--lr-schedule": "train.lr_schedule", "--warmup": "train.warmup", "--clip": "train.clip"}
    return " ".join(f"{flag} {meta[key]}" for flag, key in keys.items())


def read_metadata(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))["__metadata__"]


def read_curve(csv_path):
    """(train_seconds, val_loss) at every validation row of a char_lm-format CSV log."""
    with open(csv_path) as f:
        header = f.readline().strip().split(",")
        col = {c: i for i, c in enumerate(header)}
        points = []
        for line in f:
            cells = line.strip().split(",")
            if cells[col["val_loss"]]:
                points.append((float(cells[col["train_seconds"]]), float(cells[col["val_loss"]])))
    return points


def compare(args):
    os.makedirs(args.out, exist_ok=True)
    flags = preset_flags(args)
    results = []
    seconds_tg = None
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        order = ["tapegrad", "pytorch"] if i % 2 == 0 else ["pytorch", "tapegrad"]
        # PyTorch's step count fills tapegrad's training seconds: this seed's when tapegrad went
        # first, else the previous seed's (the preset is a fixed step count, so they agree).
        for engine in order:
            log = os.path.join(args.out, f"{engine}_seed{seed}.csv")
            if os.path.exists(log):
                os.remove(log)
            if engine == "tapegrad":
                r = char_lm(args, f"--preset {PRESET} --seed {seed} {args.override}", None, args.out, log=log,
                            checkpoint=f"preset_seed{seed}.safetensors")
                seconds_tg = r["seconds"]
            else:
                calibration = pytorch(args, flags, args.calibration_steps, extra=f"--seed {seed} --val-fraction 0.01")
                steps = steps_for(calibration, flags, seconds_tg)
                r = pytorch(args, flags, steps, log=log, extra=f"--seed {seed} --val-every {max(1, steps // 10)}")
            row = {"engine": engine, "seed": seed, "val_loss": r["val_loss"], "val_bpc": r["val_bpc"],
                   "train_seconds": r["seconds"], "tokens_per_s": r["tokens_per_s"], "step": r["step"], "log": log}
            print(json.dumps(row), flush=True)
            results.append(row)
    summary = {"preset": PRESET, "flags": flags, "threads": args.threads, "runs": results}
    for engine in ("tapegrad", "pytorch"):
        losses = [r["val_loss"] for r in results if r["engine"] == engine]
        summary[engine] = {"val_loss_median": statistics.median(losses), "val_loss_min": min(losses),
                           "val_loss_max": max(losses)}
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(summary, f, indent=1)
    curves = [(r["engine"], r["seed"], read_curve(r["log"])) for r in results]
    with open(os.path.join(args.out, "char_lm_10min.svg"), "w") as f:
        f.write(svg_plot(curves))
    print(json.dumps({k: summary[k] for k in ("tapegrad", "pytorch")}))


def svg_plot(curves, width=640, height=400):
    """Validation loss against training seconds, one polyline per (engine, seed)."""
    colors = {"tapegrad": "#1f77b4", "pytorch": "#d62728"}
    xs = [x for _, _, c in curves for x, _ in c]
    ys = [y for _, _, c in curves for _, y in c]
    x_max = max(xs) * 1.02
    y_min, y_max = math.floor((min(ys) - 0.01) * 20) / 20, min(3.0, max(ys))
    L, R, T, B = 60, 20, 30, 45
    sx = lambda x: L + (width - L - R) * x / x_max  # noqa: E731
    sy = lambda y: T + (height - T - B) * (y_max - min(y, y_max)) / (y_max - y_min)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle">char_lm {PRESET}: validation loss against training '
           f'time</text>']
    for k in range(6):  # axes ticks
        y = y_min + (y_max - y_min) * k / 5
        out.append(f'<line x1="{L}" x2="{width - R}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#ddd"/>'
                   f'<text x="{L - 5}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
        x = x_max * k / 5
        out.append(f'<text x="{sx(x):.1f}" y="{height - B + 16}" text-anchor="middle">{x:.0f}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">training seconds (2 threads)</text>')
    out.append(f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" text-anchor="middle">'
               f'validation nats/char</text>')
    for engine, seed, c in curves:
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in c)
        out.append(f'<polyline fill="none" stroke="{colors[engine]}" stroke-width="1.5" points="{pts}"/>')
    for i, engine in enumerate(("tapegrad", "pytorch")):
        out.append(f'<line x1="{width - 230}" x2="{width - 210}" y1="{T + 15 + 18 * i}" y2="{T + 15 + 18 * i}" '
                   f'stroke="{colors[engine]}" stroke-width="2"/><text x="{width - 205}" y="{T + 19 + 18 * i}">'
                   f'{engine} (one line per seed)</text>')
    out.append("</svg>\n")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["search", "compare"])
    p.add_argument("--char-lm", default=os.path.join(ROOT, "build", "bin", "char_lm"))
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--budget", type=float, default=150.0, help="search: training seconds per candidate")
    p.add_argument("--calibration-steps", type=int, default=40)
    p.add_argument("--configs", default="", help="search: comma-separated candidate names (default all)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default="/tmp/char_lm_recipe")
    p.add_argument("--override", default="", help="compare: flags given to char_lm after the preset (a smoke test: "
                                                  "'--steps 20 --hidden 32'); PyTorch follows the resolved recipe")
    args = p.parse_args()
    for path, what in ((args.char_lm, "char_lm (build it first)"), (args.data, "the corpus (--data)")):
        if not os.path.exists(path):
            sys.exit(f"char_lm_recipe.py: {what} is missing: {path}")
    search(args) if args.command == "search" else compare(args)


if __name__ == "__main__":
    main()
