"""CPU time of PyTorch's eager forward, one thread: the peer of
tests/peers/cpu_forward.lua (same torchvision network, same input file).

Usage: cpu_forward.py DIR MODEL BATCH [REPS]"""
import sys
import time

import numpy as np
import torch
import torchvision


def main():
    d, name, b = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    torch.set_num_threads(1)
    m = getattr(torchvision.models, name)().eval()
    x = torch.from_numpy(np.load(f"{d}/bench_in_b{b}.npy"))
    with torch.no_grad():
        for _ in range(3):
            m(x)
        t0 = time.process_time()
        for _ in range(reps):
            m(x)
        dt = (time.process_time() - t0) / reps
    print(f"cpu pytorch {name} batch {b}: {dt * 1e3:.1f} ms CPU per forward, "
          f"{b / dt:.1f} images per CPU-second (torch {torch.__version__})")


if __name__ == "__main__":
    main()
