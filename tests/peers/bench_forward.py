#!/usr/bin/python3
"""Peer benchmark (`make bench-peers`): PyTorch's CPU forward of the networks
tests/peers/torch_onnx_export.py exported, 2 threads, at the given batch
sizes, for tests/peers/bench_forward.lua to be compared with (the same
networks imported by nmlab from the ONNX files, the same inputs).

The network is rebuilt exactly as the export built it (same constructor,
seed and BatchNorm statistics), so PyTorch runs its own eager model, not the
ONNX file. The input of batch B is a seeded normal [B, 3, 224, 224]; it is
written to DIR/bench_in_bB.npy (if missing) for nmlab's side to read.
After WARM warm-up forwards, REPS forwards are timed as one block (wall
clock); prints one line per (model, batch):

  peer pytorch MODEL batch B: X images/s (REPS forwards, S s)

Usage: bench_forward.py DIR MODEL[,MODEL...] BATCH[,BATCH...]"""
import os
import sys
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_onnx_export import MODELS, randomize_norms  # noqa: E402


def reps_for(batch):
    """Timed forwards per block: about 32 images, at least 3 forwards."""
    return max(3, 32 // batch)


def bench_input(outdir, batch, size):
    """The seeded [batch, 3, size, size] input, saved for nmlab's side."""
    g = torch.Generator().manual_seed(4242)
    x = torch.randn(batch, 3, size, size, generator=g)
    path = os.path.join(outdir, f"bench_in_b{batch}.npy")
    if not os.path.exists(path):
        tmp = path + ".tmp.npy"
        np.save(tmp, x.numpy().astype(np.float32))
        os.replace(tmp, path)
    return x


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    outdir, names, batches = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    torch.set_num_threads(2)
    for name in names:
        ctor, size, _, seed = MODELS[name]
        torch.manual_seed(seed)
        model = getattr(torchvision.models, ctor)(weights=None)
        randomize_norms(model, seed)
        model.eval()
        for b in map(int, batches):
            x = bench_input(outdir, b, size)
            reps = reps_for(b)
            with torch.no_grad():
                for _ in range(2 if b > 1 else 5):
                    model(x)
                t0 = time.perf_counter()
                for _ in range(reps):
                    model(x)
                dt = time.perf_counter() - t0
            print(f"peer pytorch {name} batch {b}: {reps * b / dt:.2f} images/s "
                  f"({reps} forwards, {dt:.2f} s, {torch.get_num_threads()} threads, "
                  f"torch {torch.__version__})", flush=True)


if __name__ == "__main__":
    main()
