#!/usr/bin/python3
"""Peer test, step 1: export torchvision networks to ONNX with PyTorch and
save what PyTorch computes on them, for tests/peers/check_onnx.lua to compare
nmlab's forward against (`make test-peers`; Debian's python3-torch,
python3-torchvision and python3-onnx; never part of `make test`).

For every model: the torchvision constructor with weights=None after
torch.manual_seed(seed), then every BatchNorm gets random (seeded) running
mean/var, weight and bias, so that exporting cannot hide a BatchNorm that
nmlab gets wrong behind the identity statistics of a fresh network; every
LayerNorm gets a random weight and bias for the same reason (and a
zero-initialized Linear, vit_b_16's head, random weights). The model is
exported in eval mode at ONNX opset 13 with a symbolic batch dimension `N`
(so the benchmark can run batch 32 on the same file), and the variant
resnet18_dyn also has symbolic height and width. Writes into OUTDIR:

  NAME.onnx            the network
  NAME.in.npy          the input, f32 [1, 3, H, W] (seeded normal)
  NAME.out.npy         PyTorch's output for it, f32 [1, 1000]
  NAME.ops.txt         the ONNX operators the file uses, with counts
  manifest.txt         one line per model (a line per model exported now is
                       replaced, others kept): name, file, input C H W, seed,
                       and "dyn" when height and width are symbolic

resnet18_dyn is exported at 224x224 and its saved input is 160x128, so a
correct import must honour the symbolic height and width.

Usage: torch_onnx_export.py OUTDIR [NAME ...]   (default: every model)"""
import collections
import os
import sys
import time

import numpy as np
import onnx
import torch
import torchvision

# name -> (torchvision constructor, export H and W, input H and W, seed).
# 224 where the architecture needs it (vit_b_16's patch grid is fixed) or the
# file is reused by the benchmark (resnet18, mobilenet_v2); 96 elsewhere,
# which every other network here reduces without a ceil-mode pooling that
# changes a size (squeezenet's 3x3/2 ceil-mode pools see 47, 23, 11).
MODELS = collections.OrderedDict([
    ("resnet18", ("resnet18", 224, 224, 1)),
    ("mobilenet_v2", ("mobilenet_v2", 224, 224, 2)),
    ("mobilenet_v3_small", ("mobilenet_v3_small", 96, 96, 3)),
    ("efficientnet_b0", ("efficientnet_b0", 96, 96, 4)),
    ("squeezenet1_1", ("squeezenet1_1", 96, 96, 5)),
    ("densenet121", ("densenet121", 96, 96, 6)),
    ("shufflenet_v2_x1_0", ("shufflenet_v2_x1_0", 96, 96, 7)),
    ("vit_b_16", ("vit_b_16", 224, 224, 8)),
    ("resnet18_dyn", ("resnet18", 224, (160, 128), 9)),
])
DYNAMIC_HW = {"resnet18_dyn"}


def randomize_norms(model, seed):
    """Gives every BatchNorm random running statistics and affine parameters
    (mean in [-0.5, 0.5], var in [0.5, 2], weight in [0.5, 1.5], bias in
    [-0.25, 0.25]) and every LayerNorm a random weight and bias, from a
    generator seeded with `seed`; a Linear whose weight is all zero (vit_b_16's
    head) gets uniform(+-1/sqrt(in)) weight and bias, so the output is not
    identically 0. Returns how many BatchNorms changed."""
    g = torch.Generator().manual_seed(1000 + seed)

    def uniform(t, lo, hi):
        return torch.rand(t.shape, generator=g, dtype=t.dtype) * (hi - lo) + lo

    n_bn = 0
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(uniform(mod.running_mean, -0.5, 0.5))
                mod.running_var.copy_(uniform(mod.running_var, 0.5, 2.0))
                if mod.affine:
                    mod.weight.copy_(uniform(mod.weight, 0.5, 1.5))
                    mod.bias.copy_(uniform(mod.bias, -0.25, 0.25))
                n_bn += 1
            elif isinstance(mod, torch.nn.LayerNorm) and mod.elementwise_affine:
                mod.weight.copy_(uniform(mod.weight, 0.5, 1.5))
                mod.bias.copy_(uniform(mod.bias, -0.25, 0.25))
            elif isinstance(mod, torch.nn.Linear) and not mod.weight.any():
                # vit_b_16's head starts at zero: its output would be 0
                bound = mod.in_features ** -0.5
                mod.weight.copy_(uniform(mod.weight, -bound, bound))
                if mod.bias is not None:
                    mod.bias.copy_(uniform(mod.bias, -bound, bound))
    return n_bn


def export(name, outdir):
    """Builds, exports and runs one model; returns its manifest line."""
    ctor, size, in_hw, seed = MODELS[name]
    in_h, in_w = in_hw if isinstance(in_hw, tuple) else (in_hw, in_hw)
    torch.manual_seed(seed)
    model = getattr(torchvision.models, ctor)(weights=None)
    n_bn = randomize_norms(model, seed)
    model.eval()

    path = os.path.join(outdir, name + ".onnx")
    dyn = {0: "N"}
    if name in DYNAMIC_HW:
        dyn = {0: "N", 2: "H", 3: "W"}
    dummy = torch.zeros(1, 3, size, size)
    t0 = time.perf_counter()
    torch.onnx.export(model, dummy, path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": dyn, "logits": {0: "N"}})
    t_export = time.perf_counter() - t0

    g = torch.Generator().manual_seed(2000 + seed)
    x = torch.randn(1, 3, in_h, in_w, generator=g)
    with torch.no_grad():
        y = model(x)
    np.save(os.path.join(outdir, name + ".in.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(outdir, name + ".out.npy"), y.numpy().astype(np.float32))

    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    ops = collections.Counter(n.op_type for n in proto.graph.node)
    with open(os.path.join(outdir, name + ".ops.txt"), "w") as f:
        for op, k in sorted(ops.items()):
            f.write(f"{op} {k}\n")
    print(f"export {name:20s} {os.path.getsize(path) / 1e6:7.1f} MB  {n_bn:3d} BN  "
          f"input 1x3x{in_h}x{in_w}  max|y| {y.abs().max().item():.4g}  "
          f"{t_export:5.1f} s  ops: " + ", ".join(f"{op} {k}" for op, k in sorted(ops.items())),
          flush=True)
    return f"{name} {name}.onnx 3 {in_h} {in_w} {seed}" + (" dyn" if name in DYNAMIC_HW else "") + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit(f"torch_onnx_export.py: unknown model '{n}' (known: {', '.join(MODELS)})")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(2)
    print(f"pytorch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"onnx {onnx.__version__}, opset 13, into {outdir}")
    # Models exported now replace their manifest lines; others are kept,
    # in MODELS order, so exporting a subset does not forget the rest.
    path = os.path.join(outdir, "manifest.txt")
    lines = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.split() and line.split()[0] in MODELS:
                    lines[line.split()[0]] = line
    for n in names:
        lines[n] = export(n, outdir)
    with open(path + ".tmp", "w") as f:
        f.writelines(lines[n] for n in MODELS if n in lines)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
