#!/usr/bin/python3
"""Peer check: nmlab's ViT-B/16 (or ViT-B/32) forward against torchvision's
vit_b_16 (vit_b_32) with the same weights (Debian's python3-torch and
python3-torchvision).

nmlab builds the zoo's vit_b16 or vit_b32 (synthetic weights, seed 1), saves it as
safetensors and runs model:forward on images written here; this script
reads the safetensors file (its plain format: an 8-byte header length, a
JSON header, raw little-endian data), maps nmlab's names onto torchvision's
state dict, runs torchvision's VisionTransformer on the same images and
prints the largest logit difference relative to the largest logit.
Usage: torch_vit.py path/to/nmlab [images [vit_b16|vit_b32]]   (not part of `make test`)."""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torchvision.models import vit_b_16, vit_b_32

DTYPES = {"F32": np.float32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def torch_state(st):
    """nmlab layer.param names -> torchvision's vit_b_16 state dict."""
    sd = {}
    for name, v in st.items():
        t = torch.from_numpy(v.copy())
        if name == "encoder.embed.weight":
            sd["encoder.pos_embedding"] = t.reshape(1, *t.shape)
        elif name == "encoder.embed.bias":
            sd["class_token"] = t.reshape(1, 1, -1)
        elif ".self_attention.in_proj." in name:
            sd[name.replace("in_proj.", "in_proj_")] = t
        else:
            sd[name.replace(".gamma", ".weight").replace(".beta", ".bias")] = t
    return sd


def main():
    nmlab = sys.argv[1] if len(sys.argv) > 1 else "build/app/nmlab"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    name = sys.argv[3] if len(sys.argv) > 3 else "vit_b16"
    builders = {"vit_b16": vit_b_16, "vit_b32": vit_b_32}
    if name not in builders:
        print(f"unknown model {name!r} (vit_b16, vit_b32)")
        return 2
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="nmlab-vit-peer.") as d:
        x = np.random.default_rng(5).standard_normal((n, 3, 224, 224)).astype(np.float32)
        np.save(os.path.join(d, "x.npy"), x)
        lua = os.path.join(d, "run.lua")
        with open(lua, "w") as f:
            f.write(f"""
local d = {json.dumps(d)}
local m = nm.zoo({json.dumps(name)}, {{seed = 1}})
assert(m:save(d .. "/vit.safetensors"))
local x = assert(nm.npy_load(d .. "/x.npy"))
local t0 = os.clock()
local y = m:forward(x)
io.write(string.format("nmlab forward: %.2f s CPU (all threads) for %d images\\n", os.clock() - t0, {n}))
assert(nm.npy_save(y, d .. "/y.npy"))
""")
        subprocess.run([nmlab, "run", lua], check=True)
        y_nm = np.load(os.path.join(d, "y.npy")).reshape(n, -1)
        net = builders[name]()
        net.load_state_dict(torch_state(read_safetensors(os.path.join(d, "vit.safetensors"))),
                            strict=True)
        net.eval()
        t0 = time.time()
        with torch.no_grad():
            y_t = net(torch.from_numpy(x)).numpy()
        print(f"torchvision forward: {time.time() - t0:.2f} s wall for {n} images")
    err = np.abs(y_nm - y_t).max() / np.abs(y_t).max()
    print(f"{name}, {n} images, 1000 logits each: max |nmlab - torchvision| / max |logit| "
          f"= {err:.2e} (max |logit| {np.abs(y_t).max():.3f})")
    return 0 if err < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
