#!/usr/bin/python3
"""Peer test of nmlab's ways back out (needs Debian's python3-torch,
python3-torchvision and python3-onnx; not part of `make test`):

  1. torchvision's resnet18 (random weights and BN statistics, 10 classes)
     is exported with torch.onnx.export at 3x32x32, BN kept;
  2. nmlab loads it, removes 30 % of the filters of every eligible layer
     (residual channels too, where only the BN masks keep torch at 0),
     applies 2:4, and writes the pruned model as ONNX, its masks
     (model:save_masks) and its output on a fixed input;
  3. here: onnx.checker (full check) passes on nmlab's ONNX file; the masks
     applied to the torchvision model with torch.nn.utils.prune
     .custom_from_mask (the snippet of docs/formats.md) give nmlab's output;
     and every mask is 0 exactly where nmlab's exported weights are 0.

Usage: torch_masks_peer.py path/to/nmlab [workdir]. Exit 0 on success."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.utils.prune as prune
import torchvision

nmlab = os.path.abspath(sys.argv[1])
work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="nmlab-peer-")
os.makedirs(work, exist_ok=True)
torch.manual_seed(5)

net = torchvision.models.resnet18(num_classes=10)
with torch.no_grad():
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5)
            mod.bias.normal_(0, 0.2)
            mod.running_mean.normal_(0, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
net.eval()
x = torch.randn(2, 3, 32, 32)
src = os.path.join(work, "resnet18_tv.onnx")
torch.onnx.export(net, x, src, opset_version=13, do_constant_folding=False,
                  training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"],
                  output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
np.save(os.path.join(work, "x.npy"), x.numpy())

script = os.path.join(work, "prune.lua")
with open(script, "w") as f:
    f.write("""
local dir = arg[1]
local m, warnings = assert(nm.load(dir .. "/resnet18_tv.onnx"))
assert(warnings == nil, warnings)
nm.prune.filters(m, {ratio = 0.3, global = false, allow_add = true})
nm.prune.nm(m, {n = 2, m = 4})
assert(m:save(dir .. "/pruned.onnx"))
assert(m:save_masks(dir .. "/masks.safetensors"))
local x = assert(nm.npy_load(dir .. "/x.npy"))
assert(nm.npy_save(m:forward(x), dir .. "/y_nmlab.npy"))
local s = m:shrink()
assert(nm.npy_save(s:forward(x), dir .. "/y_shrunk.npy"))
print(string.format("nmlab: %d -> %d parameters after shrink", m.params, s.params))
""")
subprocess.run([nmlab, "run", script, work], check=True)

# 1. the exported file is valid ONNX
model = onnx.load(os.path.join(work, "pruned.onnx"))
onnx.checker.check_model(model, full_check=True)
print("onnx.checker: pruned.onnx OK (ir %d, opset %d)" % (model.ir_version,
                                                         model.opset_import[0].version))


# 2. the masks, read with a few lines (no safetensors package needed)
def load_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        assert info["dtype"] == "U8", info
        a, b = info["data_offsets"]
        out[key] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.uint8).reshape(info["shape"])
    return out


masks = load_safetensors(os.path.join(work, "masks.safetensors"))
modules = dict(net.named_modules())
for key, mask in masks.items():           # "layer1.0.conv1.weight_mask"
    name, param = key[:-len("_mask")].rsplit(".", 1)
    prune.custom_from_mask(modules[name], param, mask.bool())
print("applied %d masks (%d on BN layers)" % (len(masks), sum(
    isinstance(modules[k[:-len("_mask")].rsplit(".", 1)[0]], torch.nn.BatchNorm2d) for k in masks)))

with torch.no_grad():
    y = net(x).numpy()
y_nm = np.load(os.path.join(work, "y_nmlab.npy")).reshape(y.shape)
y_sh = np.load(os.path.join(work, "y_shrunk.npy")).reshape(y.shape)
scale = max(1.0, float(np.abs(y).max()))
d1 = float(np.abs(y - y_nm).max()) / scale
d2 = float(np.abs(y_nm - y_sh).max()) / scale
print("torch with masks vs nmlab: max relative difference %.3g" % d1)
print("nmlab shrunk vs masked:    max relative difference %.3g" % d2)

# 3. masks agree with the weights nmlab wrote (0 where masked)
inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
checked = 0
for node in model.graph.node:
    if node.op_type not in ("Conv", "Gemm"):
        continue
    parts = node.name.split("/")[1:-1]
    w = inits[node.input[1]]
    # module path as docs/formats.md states the rule
    path = []
    prev = None
    for p in parts:
        path.append(p[len(prev) + 1:] if prev and p.startswith(prev + ".") else p)
        prev = p
    key = ".".join(path) + ".weight_mask"
    if key in masks:
        mask = masks[key].numpy()
        assert mask.shape == w.shape, (key, mask.shape, w.shape)
        assert np.all(w[mask == 0] == 0), key
        checked += 1
print("masks match the zeros of %d exported weights" % checked)

ok = d1 <= 1e-4 and d2 <= 1e-5 and checked > 5 and len(masks) > 10
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
