#!/usr/bin/python3
"""Loads a char_lm checkpoint into PyTorch modules and checks them against char_lm itself.

    /usr/bin/python3 scripts/export_pytorch.py --checkpoint m.safetensors [--char-lm build/bin/char_lm]
                                               [--data FILE] [--save model.pt]

The model is rebuilt from the checkpoint's metadata alone: nn.Embedding(V, E) ->
nn.LSTM/GRU/RNN(E, H, num_layers, time-first) -> nn.Linear(H, V), with char_lm's parameter
names, which are PyTorch's (emb.weight, rnn.weight_ih_l0, ..., out.bias). It evaluates the same
text as `char_lm eval` with the same protocol (one stream, blocks of 1,024 steps, the state
carried across blocks, the mean cross-entropy over every next-character prediction) and, when
--char-lm is given, runs `char_lm eval --json` and requires the two losses to agree to 1e-5
relative (exit 1 otherwise). --save writes {"state_dict", "config", "vocab"} with torch.save,
from which a user moves the model on (to ONNX with torch.onnx.export, for instance).
Needs Debian's python3-torch; prints one line and exits 2 when it is missing.
"""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BLOCK = 1024  # char_lm's evaluation block


def fail(message, code=2):
    print(f"export_pytorch: {message}", file=sys.stderr)
    sys.exit(code)


def read_safetensors(path):
    """(metadata, {name: numpy array}) of a safetensors file."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
    return meta, tensors


def training_corpus(meta, checkpoint):
    """The bytes of the corpus the checkpoint was trained on, found as `char_lm eval` finds it."""
    name = meta["corpus.name"]
    if name == "built-in corpus":
        return open(os.path.join(ROOT, "examples", "char_lm", "builtin_corpus.txt"), "rb").read()
    folder = os.path.dirname(checkpoint)
    for path in [name, os.path.join(folder, name), os.path.join(folder, os.path.basename(name)), meta.get("corpus.path", "")]:
        if path and os.path.isfile(path):
            return open(path, "rb").read()
    fail(f"cannot find {name}, the corpus {checkpoint} was trained on; pass --data")


def build_model(torch, meta, tensors):
    nn = torch.nn
    cell, V = meta["model.cell"], int(meta["model.vocab"])
    L, H, E = int(meta["model.layers"]), int(meta["model.hidden"]), int(meta["model.embed"])
    kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    model = nn.ModuleDict({"emb": nn.Embedding(V, E), "rnn": kind(E, H, num_layers=L), "out": nn.Linear(H, V)})
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items() if k.split(".")[0] in ("emb", "rnn", "out")}
    model.load_state_dict(state, strict=True)  # every name and shape must match PyTorch's
    return model.eval()


def evaluate(torch, model, ids):
    """Mean cross-entropy (nats) over every next-character prediction of `ids`."""
    total, state, n = 0.0, None, len(ids) - 1
    with torch.no_grad():
        for s in range(0, n, BLOCK):
            e = min(n, s + BLOCK)
            x = torch.tensor(ids[s:e], dtype=torch.long).view(-1, 1)  # [T, 1]
            y = torch.tensor(ids[s + 1:e + 1], dtype=torch.long)
            out, state = model["rnn"](model["emb"](x), state)
            logits = model["out"](out).view(-1, model["out"].out_features)
            total += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
    return total / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", help="evaluate this whole file instead of the validation split")
    ap.add_argument("--char-lm", help="the char_lm binary: compare with `char_lm eval --json`")
    ap.add_argument("--save", help="write the PyTorch modules' state_dict here (torch.save)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        fail("PyTorch is missing: apt-get install python3-torch (and run with /usr/bin/python3)")
    torch.set_num_threads(1)
    if not os.path.isfile(args.checkpoint):
        fail(f"--checkpoint {args.checkpoint}: no such file")
    meta, tensors = read_safetensors(args.checkpoint)
    model = build_model(torch, meta, tensors)
    vocab = [int(c) for c in meta["vocab"].split(",")]
    index = {c: i for i, c in enumerate(vocab)}
    raw = open(args.data, "rb").read() if args.data else training_corpus(meta, args.checkpoint)
    ids = [index[ord(ch)] for ch in raw.decode("utf-8")]
    if not args.data:  # char_lm's split: the first floor(n * (1 - F)) train
        ids = ids[int(len(ids) * (1.0 - float(meta["train.val_fraction"]))):]
    loss = evaluate(torch, model, ids)
    result = {"pytorch_loss": loss, "characters": len(ids)}
    if args.char_lm:
        cmd = [args.char_lm, "eval", "--json", "--checkpoint", args.checkpoint] + (["--data", args.data] if args.data else [])
        theirs = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        result["char_lm_loss"] = theirs["val_loss"]
        result["relative_difference"] = abs(loss - theirs["val_loss"]) / abs(theirs["val_loss"])
    if args.save:
        torch.save({"state_dict": model.state_dict(), "config": {k: v for k, v in meta.items() if k.startswith("model.")},
                    "vocab": vocab}, args.save)
        result["saved"] = args.save
    print(json.dumps(result))
    if args.char_lm and result["relative_difference"] > 1e-5:
        fail(f"PyTorch's loss {loss} differs from char_lm's {theirs['val_loss']} by more than 1e-5 relative", 1)


if __name__ == "__main__":
    main()
