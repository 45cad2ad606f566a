#!/usr/bin/python3
"""Peer benchmark: the same fmnist_cnn as nmlab's zoo entry, in PyTorch
(Debian's python3-torch, installed only by `make bench-peers`), on the same
batch size, synthetic data, SGD with momentum, both cores.
Prints images/s for training and inference in the format of bench_train.
Usage: torch_fmnist_cnn.py [steps] [batch]"""
import sys
import time

import torch
import torch.nn as nn

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
torch.set_num_threads(2)
torch.manual_seed(3)


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


net = nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                    *block(32, 64), *block(64, 64), nn.MaxPool2d(2), nn.Flatten(),
                    nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
loss_fn = nn.CrossEntropyLoss()
x = torch.randn(steps * batch, 1, 28, 28)
y = torch.randint(0, 10, (steps * batch,))

net.train()
for i in range(2):  # warm-up
    opt.zero_grad()
    loss_fn(net(x[:batch]), y[:batch]).backward()
    opt.step()
t0 = time.perf_counter()
for i in range(steps):
    xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
    opt.zero_grad()
    loss_fn(net(xb), yb).backward()
    opt.step()
t_train = time.perf_counter() - t0

net.eval()
with torch.no_grad():
    net(x[:batch])
    t0 = time.perf_counter()
    for i in range(steps):
        net(x[i * batch:(i + 1) * batch])
    t_inf = time.perf_counter() - t0

n = steps * batch
print(f"pytorch {torch.__version__} fmnist_cnn, batch {batch}, {steps} steps, {torch.get_num_threads()} threads")
print(f"  training:  {n / t_train:8.1f} images/s")
print(f"  inference: {n / t_inf:8.1f} images/s")
