#!/usr/bin/python3
"""`char_lm train` in PyTorch: the same model, recipe, data protocol, schedule and evaluation.

For comparing the two engines side by side (for example for a fixed training-time budget,
--max-seconds). What it mirrors (examples/char_lm/ and optim/ in this repository):

  Data     the file's Unicode code points (UTF-8, read as bytes: no newline translation);
           vocabulary = the sorted set of code points of the whole corpus. The first
           floor(n * (1 - F)) code points train, the rest validate (F = --val-fraction, 0.1).
           The training split is cut into B = --batch contiguous streams of L = (n_train - 1) // B
           steps (stream b starts at b * L); step i (1-based) reads block (i - 1) mod (L // T)
           of every stream, T = --block: inputs train[b*L + j*T + t], targets the next character.
  State    carried from block to block and detached at each boundary (truncated BPTT); zeroed
           when the streams wrap around (the step that reads block 0).
  Model    nn.Embedding(V, E) -> nn.LSTM / nn.GRU / nn.RNN (tanh) (E, H, --layers, --dropout:
           dropout between recurrent layers only, as in tapegrad) -> nn.Linear(H, V), float32,
           time-first [T, B]; modules named emb, rnn, out as in char_lm's checkpoints.
  Step     loss = mean cross-entropy over the B*T predictions; backward; clip_grad_norm_
           (--clip, 0 = none); optimizer step; then the lr for the next step (tapegrad's and
           PyTorch's order: opt.step(); sched.step()); then zero_grad.
  Optim    adam: torch.optim.Adam(lr), betas (0.9, 0.999), eps 1e-8, no weight decay.
           adamw: torch.optim.AdamW, weight decay 1e-2 on parameters with dim >= 2 only
           (biases get 0: tg::weight_decay_groups), same betas and eps.
  Schedule the k-th optimizer step (k = 0, 1, ...) runs with lr_at(k), optim/schedule.cpp:
           warm-up W > 0: base * (k + 1) / W for k < W, then the main schedule at k - W;
           cosine: base * (1 + cos(pi * k / T)) / 2 with T = max(1, steps - W), eta_min 0;
           step: base * 0.5 ** (k // max(1, steps // 4)); constant: base.
  Validate every --val-every steps and at the last step: the validation split as one stream
           (batch 1) from a zero state, in blocks of 1,024 steps with the state carried, under
           torch.no_grad() and model.eval() (no dropout); the mean cross-entropy over all
           len(val) - 1 next-character predictions (the first character is only an input).
  Report   the CSV log (--log, appended to; header when new or empty) has char_lm's columns
           step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds,train_seconds and its rows: one every
           --print-every steps (50) without the validation columns, one at each validation
           (not both at one step); train_loss is the mean training loss since the previous row;
           lr is the lr the next step will use; absent values are empty. --json ends stdout with
           one JSON line (char_lm's keys step, train_loss, val_loss, val_bpc, tokens_per_s, plus
           seconds, steps, engine, threads, torch; NaN as null).
  Time     the CSV's `seconds` is wall-clock time since setup (validation included), as in
           char_lm; `train_seconds`, the JSON's `seconds` and tokens_per_s count training steps only (time.perf_counter around each
           step: block slicing, forward, backward, clip, update, schedule), never validation or
           reading the corpus. --max-seconds stops once that time reaches the limit (the schedule
           stays planned for --steps, as in char_lm), validating at the stop.
  Exits    2 bad input (a missing, unreadable, empty or invalid UTF-8 corpus, a split too short),
           3 divergence (a non-finite loss, gradient norm or weight, or a loss above 10 ln V),
           each as one line on stderr, as char_lm.

Caveats (not the same as char_lm):
  - Initialisation is PyTorch's default (uniform +-1/sqrt(H) for the recurrent weights, N(0, 1)
    embeddings, ...), not tapegrad's, and the random streams (init, dropout masks) differ, so
    the runs are the same recipe, not the same trajectory.
  - No checkpoints, no text samples at validation, no loss-curve SVG, no --resume; --steps 0
    (refused by char_lm) only validates the initial model.
  - The gradient norm is computed (and checked for NaN/Inf) only when --clip > 0; char_lm always
    measures it. The norm is PyTorch's float32 one; tapegrad sums in double.

Threads: torch.set_num_threads(--threads), and OpenBLAS (Debian's torch calls its GEMM) set to
the same count; --threads is capped at the cores, as in char_lm. With more than one thread and
OMP_WAIT_POLICY unset, the script re-executes itself with OMP_WAIT_POLICY=passive: by default
libgomp's idle workers spin after each parallel region, and on this 2-core machine they steal
the core from OpenBLAS's threads and the main thread between the many small ops of a step
(passive is PyTorch's best 2-thread setting here, as bench/compare_char_lm.py notes). libgomp
reads the variable once, when torch loads it, so it must be in the environment from the start;
re-executing guarantees that whatever was imported before. Set OMP_WAIT_POLICY yourself to
choose another policy.

Needs Debian's python3-torch: run with /usr/bin/python3, for example
  /usr/bin/python3 bench/pytorch_char_lm.py --steps 2000 --log pytorch.csv --json
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")
PROG = "pytorch_char_lm.py"
EVAL_BLOCK = 1024  # validation block length, as char_lm's validate()
ADAMW_WEIGHT_DECAY = 1e-2  # tg::AdamWOptions' default

# Imported in main() once the thread environment is final (see the docstring).
np = torch = nn = F = None


def fail(code, message):
    """One line on stderr and exit `code` (2 bad input, 3 divergence), as char_lm does."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def parse_args():
    def whole(lo):
        def parse(text):
            v = int(text)
            if v < lo:
                raise argparse.ArgumentTypeError(f"must be >= {lo}, got {text}")
            return v
        return parse

    def real(lo, hi=math.inf, open_lo=False):
        def parse(text):
            v = float(text)
            if not (math.isfinite(v) and (v > lo if open_lo else v >= lo) and v <= hi):
                raise argparse.ArgumentTypeError(f"out of range: {text}")
            return v
        return parse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="UTF-8 text file (default: ../shared/data/tinyshakespeare.txt)")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    p.add_argument("--layers", type=whole(1), default=1, help="recurrent layers")
    p.add_argument("--hidden", type=whole(1), default=256, help="hidden size H")
    p.add_argument("--embed", type=whole(1), default=64, help="embedding size E")
    p.add_argument("--dropout", type=real(0.0, 0.999999), default=0.0, help="dropout between recurrent layers")
    p.add_argument("--batch", type=whole(1), default=32, help="streams B")
    p.add_argument("--block", type=whole(1), default=64, help="TBPTT block length T")
    p.add_argument("--optim", default="adam", choices=["adam", "adamw"])
    p.add_argument("--lr", type=real(0.0, open_lo=True), default=2e-3)
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "step"])
    p.add_argument("--warmup", type=whole(0), default=0, help="linear warm-up steps before the schedule")
    p.add_argument("--clip", type=real(0.0), default=5.0, help="clip the gradient norm to this (0: no clipping)")
    p.add_argument("--steps", type=whole(0), default=2000, help="training steps (0: only validate the initial model)")
    p.add_argument("--seed", type=whole(0), default=0)
    p.add_argument("--threads", type=whole(1), default=1, help="threads (capped at the cores)")
    p.add_argument("--val-fraction", type=real(0.0, 0.999999, open_lo=True), default=0.1,
                   help="the last fraction F of the corpus validates")
    p.add_argument("--val-every", type=whole(1), default=500, help="validate every N steps (and at the last step)")
    p.add_argument("--print-every", type=whole(1), default=50, help="progress line and CSV row every N steps")
    p.add_argument("--max-seconds", type=real(0.0), default=0.0, help="stop after this much training time (0: no limit)")
    p.add_argument("--log", default="", help="CSV log: step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds,train_seconds")
    p.add_argument("--json", action="store_true", help="end with one JSON line of results")
    return p.parse_args()


def available_cores():
    """tapegrad's available_cores(): the smaller of the CPU count and the affinity mask."""
    cores = os.cpu_count() or 1
    try:
        cores = min(cores, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        pass
    return max(1, cores)


def prepare_threads(threads):
    """Caps the thread count, re-executes with OMP_WAIT_POLICY=passive if needed (before torch
    is loaded), and sets the OpenMP/OpenBLAS counts for the libraries about to load."""
    threads = min(threads, available_cores())
    if threads > 1 and "OMP_WAIT_POLICY" not in os.environ:
        env = dict(os.environ, OMP_WAIT_POLICY="passive")
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    return threads


def import_libraries(threads):
    global np, torch, nn, F
    import ctypes
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    try:  # Debian's torch calls OpenBLAS (pthreads build) for its GEMMs
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(threads)
    except (OSError, AttributeError):
        pass


# ---- data ----

def read_corpus(path):
    """The corpus as code points; exit 2 with one line if it cannot be used."""
    if not os.path.isfile(path):
        fail(2, f"--data {path}: no such file (tinyshakespeare is expected at ../shared/data/ beside the repository)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(2, f"--data {path}: cannot read it: {e.strerror}")
    if not data:
        fail(2, f"--data {path}: the corpus is empty")
    try:
        return data.decode("utf-8")  # strict: invalid UTF-8 and surrogates are errors, as in char_lm
    except UnicodeDecodeError as e:
        fail(2, f"--data {path}: invalid UTF-8 at byte offset {e.start}")


def encode(text):
    """(vocabulary as a sorted list of code points, ids as an int64 numpy array)."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    vocab = np.unique(cps)  # sorted
    return vocab, np.searchsorted(vocab, cps).astype(np.int64)


def split_corpus(ids, val_fraction):
    n_train = int(len(ids) * (1.0 - val_fraction))  # floor, as size_t(double(n) * (1 - F))
    if len(ids) - n_train < 2:
        fail(2, f"the validation split has {len(ids) - n_train} characters; it needs at least 2 "
                "(a larger corpus or --val-fraction)")
    return ids[:n_train], ids[n_train:]


def make_streams(train, batch, block):
    """X, Y [L, B] (time-first, contiguous) and the blocks per epoch: stream b is train[b*L:]."""
    stream_len = (len(train) - 1) // batch if len(train) > 1 else 0
    blocks = stream_len // block
    if blocks == 0:
        fail(2, f"the training split has {len(train)} characters: too short for {batch} streams of one "
                f"{block}-step block each (it needs at least {batch * block + 1}); use a larger corpus or "
                "smaller --batch/--block")
    starts = np.arange(batch) * stream_len
    at = starts[None, :] + np.arange(blocks * block)[:, None]  # [blocks*T, B]
    X = torch.from_numpy(np.ascontiguousarray(train[at]))
    Y = torch.from_numpy(np.ascontiguousarray(train[at + 1]))
    return X, Y, blocks


# ---- model ----

def make_model(a, vocab_size):
    """Embedding -> RNN -> Linear with char_lm's module names (emb, rnn, out)."""
    rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[a.cell]
    model = nn.Module()
    model.emb = nn.Embedding(vocab_size, a.embed)
    model.rnn = rnn_class(a.embed, a.hidden, num_layers=a.layers, dropout=a.dropout if a.layers > 1 else 0.0)
    model.out = nn.Linear(a.hidden, vocab_size)
    return model


def forward(model, x, state):
    """ids [T, B] from `state` (None = zeros) -> (logits [T, B, V], final state)."""
    y, state = model.rnn(model.emb(x), state)
    return model.out(y), state


def detached(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def evaluate(model, ids):
    """Mean CE (nats/char) over every next-character prediction of ids, as one stream from a
    zero state in EVAL_BLOCK-step blocks, the state carried (evaluate.cpp)."""
    model.eval()
    n = len(ids) - 1  # predictions: ids[0] is only an input
    total, state = 0.0, None
    with torch.no_grad():
        for s in range(0, n, EVAL_BLOCK):
            e = min(n, s + EVAL_BLOCK)
            logits, state = forward(model, ids[s:e].unsqueeze(1), state)  # [t, 1, V]
            # a mean over the block, weighted by its length (summed in double, as evaluate.cpp)
            total += F.cross_entropy(logits.reshape(e - s, -1), ids[s + 1:e + 1]).item() * (e - s)
    model.train()
    return total / n


# ---- optimizer and schedule ----

def make_optimizer(a, model):
    if a.optim == "adam":
        return torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices decay, biases do not
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": ADAMW_WEIGHT_DECAY},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=a.lr, betas=(0.9, 0.999), eps=1e-8)


def lr_at(k, base, a, total):
    """The lr of the k-th optimizer step (k = 0, 1, ...), as make_schedule + optim/schedule.cpp."""
    w = a.warmup
    if w > 0 and k < w:
        return base * float(k + 1) / float(w)  # LinearWarmup
    k -= w  # the main schedule starts at its own step 0
    if a.lr_schedule == "cosine":
        t_max = max(1, total - w)
        return 0.0 + (base - 0.0) * (1.0 + math.cos(math.pi * float(k) / float(t_max))) / 2.0
    if a.lr_schedule == "step":
        return base * math.pow(0.5, float(k // max(1, total // 4)))
    return base


def set_lr(opt, k, a, total):
    for g in opt.param_groups:
        g["lr"] = lr_at(k, a.lr, a, total)


# ---- reporting ----

class CsvLog:
    """char_lm's CSV: appended to, header when new or empty, absent values empty."""
    HEADER = "step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds,train_seconds\n"

    def __init__(self, path):
        self.file = None
        if path:
            fresh = not os.path.exists(path) or os.path.getsize(path) == 0
            self.file = open(path, "a")
            if fresh:
                self.file.write(self.HEADER)
                self.file.flush()

    def write(self, step, train_loss, val_loss, lr, tokens_per_s, seconds, train_seconds):
        if not self.file:
            return
        opt = lambda v: "" if v is None else "%.6f" % v  # noqa: E731
        val_bpc = None if val_loss is None else val_loss / math.log(2.0)
        self.file.write("%d,%s,%s,%s,%.6g,%.1f,%.3f,%.3f\n" % (step, opt(train_loss), opt(val_loss), opt(val_bpc),
                                                              lr, tokens_per_s, seconds, train_seconds))
        self.file.flush()


def json_number(v):
    return None if v is None or not math.isfinite(v) else v


# ---- training ----

class Run:
    def __init__(self, a, threads):
        self.a, self.threads = a, threads
        self.wall_start = time.perf_counter()
        text = read_corpus(a.data)
        vocab, ids = encode(text)
        self.V = len(vocab)
        train, val = split_corpus(ids, a.val_fraction)
        self.X, self.Y, self.blocks = make_streams(train, a.batch, a.block)
        self.val = torch.from_numpy(val)
        self.divergence_limit = 10 * math.log(self.V)
        torch.manual_seed(a.seed)
        self.model = make_model(a, self.V)
        self.params = list(self.model.parameters())
        self.opt = make_optimizer(a, self.model)
        set_lr(self.opt, 0, a, a.steps)  # the schedule's step 0, as on its creation
        self.log = CsvLog(a.log)
        self.state = None
        self.step = self.trained = 0
        self.train_time = self.window_loss = 0.0
        self.window_steps = 0
        self.last_train_loss = self.val_loss = math.nan
        n_params = sum(p.numel() for p in self.params)
        print(f"pytorch_char_lm: {a.data}: {len(ids)} characters, vocabulary {self.V}, train {len(train)}, "
              f"validation {len(val)}", flush=True)
        print(f"model: {a.cell} layers {a.layers} hidden {a.hidden} embed {a.embed}, {n_params} parameters; "
              f"{a.optim} lr {a.lr:g}, batch {a.batch} x block {a.block}, {threads} thread(s), torch "
              f"{torch.__version__}", flush=True)

    def train_step(self, nxt):
        """One step: the block of step `nxt`, forward, backward, clip, update, next lr."""
        a = self.a
        t0 = time.perf_counter()
        j = (nxt - 1) % self.blocks
        if j == 0:
            self.state = None  # the streams wrapped around: zero state
        x, y = self.X[j * a.block:(j + 1) * a.block], self.Y[j * a.block:(j + 1) * a.block]  # [T, B]
        logits, state = forward(self.model, x, detached(self.state))
        self.state = state
        loss = F.cross_entropy(logits.reshape(-1, self.V), y.reshape(-1))  # mean over T*B
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            self.diverged(nxt, f"the loss is {loss_value}")
        if loss_value > self.divergence_limit:
            self.diverged(nxt, f"the loss {loss_value} is above 10 ln V = {self.divergence_limit}")
        loss.backward()
        if a.clip > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, a.clip))
            if not math.isfinite(norm):
                self.diverged(nxt, f"the gradient norm is {norm}")
        self.opt.step()
        set_lr(self.opt, nxt, a, a.steps)  # sched.step(): step k = nxt runs next
        self.opt.zero_grad(set_to_none=True)
        if not all(bool(torch.isfinite(p).all()) for p in self.params):
            self.diverged(nxt, "a parameter became NaN/Inf")
        self.step = nxt
        self.train_time += time.perf_counter() - t0
        self.window_loss += loss_value
        self.window_steps += 1
        self.trained += 1

    def diverged(self, at, why):
        fail(3, f"training diverged at step {at} ({why})")

    def tokens_per_s(self):
        return self.trained * self.a.batch * self.a.block / self.train_time if self.train_time > 0 else 0.0

    def write_row(self, with_val):
        train_loss = None
        if self.window_steps:
            train_loss = self.last_train_loss = self.window_loss / self.window_steps
        self.window_loss, self.window_steps = 0.0, 0
        lr = self.opt.param_groups[0]["lr"]
        self.log.write(self.step, train_loss, self.val_loss if with_val else None, lr, self.tokens_per_s(),
                       time.perf_counter() - self.wall_start, self.train_time)
        return train_loss, lr

    def validate(self):
        self.val_loss = evaluate(self.model, self.val)
        train_loss, _ = self.write_row(True)
        shown = "-" if train_loss is None else f"{train_loss:.6f}"
        print(f"step {self.step}: validation {self.val_loss:.6f} nats/char, {self.val_loss / math.log(2.0):.6f} "
              f"bits/char; train {shown}", flush=True)

    def run(self):
        a = self.a
        if a.steps == 0:
            self.validate()
        while self.step < a.steps:
            self.train_step(self.step + 1)
            last = self.step == a.steps or (a.max_seconds > 0 and self.train_time >= a.max_seconds)
            if self.step % a.print_every == 0 and self.step % a.val_every != 0 and not last:
                train_loss, lr = self.write_row(False)
                print(f"step {self.step}/{a.steps}  loss {train_loss:.4f}  {self.tokens_per_s():.0f} tok/s  "
                      f"lr {lr:.3g}", flush=True)
            if self.step % a.val_every == 0 or last:
                self.validate()
            if last:
                break
        self.finish()

    def finish(self):
        a = self.a
        print(f"done: step {self.step}, {self.trained} steps in {self.train_time:.6f} s of training "
              f"({self.tokens_per_s():.0f} tokens/s)", flush=True)
        if a.json:
            print(json.dumps({"step": self.step, "train_loss": json_number(self.last_train_loss),
                              "val_loss": json_number(self.val_loss),
                              "val_bpc": json_number(self.val_loss / math.log(2.0)),
                              "tokens_per_s": self.tokens_per_s(), "seconds": self.train_time,
                              "steps": self.trained, "engine": "pytorch", "threads": self.threads,
                              "torch": torch.__version__}), flush=True)


def main():
    a = parse_args()
    if not os.path.isfile(a.data):  # before loading torch: a quick, clear failure
        fail(2, f"--data {a.data}: no such file (tinyshakespeare is expected at ../shared/data/ beside the repository)")
    threads = prepare_threads(a.threads)
    import_libraries(threads)
    Run(a, threads).run()


if __name__ == "__main__":
    main()
