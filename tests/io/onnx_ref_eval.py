#!/usr/bin/python3
"""onnx_ref_eval.py - an independent evaluation of an ONNX graph, node by
node, with PyTorch's functional ops (python3-onnx 1.12 has no
onnx.reference and Debian ships no onnxruntime). Covers the operators of
the PP-OCRv4 recogniser (and similar CNN + transformer graphs); an
operator or setting it does not know raises, it never guesses.

    onnx_ref_eval.py MODEL.onnx INPUT.npy OUTPUT.npy [NMLAB.npy]

writes the first graph output for the input (float32, the file's layout)
and, given nmlab's output for the same input (tests/io/onnx_forward_npy.lua;
a token output [N, T, F] comes from nmlab as [N, F, T, 1]), prints the
largest difference. Used to check nmlab's import of real models
(docs/results.md)."""
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def attrs(n):
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def conv(x, w, b, a):
    k = a.get("kernel_shape", list(w.shape[2:]))
    p = a.get("pads", [0] * 4)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError("auto_pad")
    x = F.pad(x, (p[1], p[3], p[0], p[2]))
    assert list(w.shape[2:]) == list(k)
    return F.conv2d(x, w, b, a.get("strides", [1, 1]), 0, a.get("dilations", [1, 1]),
                    a.get("group", 1))


def avgpool(x, a):
    p = a.get("pads", [0] * 4)
    if any(p) or a.get("ceil_mode", 0):
        raise ValueError("AveragePool with pads or ceil_mode")
    return F.avg_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]))


def slice_(x, n, a, env):
    if len(n.input) > 1:   # opset 10+
        st, en = [list(np.asarray(env[i]).reshape(-1)) for i in n.input[1:3]]
        ax = list(np.asarray(env[n.input[3]]).reshape(-1)) if len(n.input) > 3 and n.input[3] else list(range(len(st)))
        sp = list(np.asarray(env[n.input[4]]).reshape(-1)) if len(n.input) > 4 and n.input[4] else [1] * len(st)
    else:
        st, en = a["starts"], a["ends"]
        ax = a.get("axes", list(range(len(st))))
        sp = [1] * len(st)
    idx = [slice(None)] * x.ndim
    for s, e, q, p in zip(st, en, ax, sp):
        d = x.shape[q]
        idx[q] = slice(int(max(min(s, d), -d)), int(max(min(e, d), -d - 1)), int(p))
    return x[tuple(idx)]


def run(model, x):
    g = model.graph
    env = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for k, v in env.items():
        env[k] = torch.from_numpy(v.copy()) if v.dtype == np.float32 else v
    inp = [i.name for i in g.input if i.name not in env][0]
    env[inp] = torch.from_numpy(x)
    for n in g.node:
        a = attrs(n)
        i = [env[v] if v else None for v in n.input]
        op = n.op_type
        if op == "Constant":
            v = numpy_helper.to_array(a["value"])
            y = torch.from_numpy(v.copy()) if v.dtype == np.float32 else v
        elif op == "Conv":
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
        elif op in ("Add", "Sub", "Mul", "Div", "Pow"):
            p, q = [torch.as_tensor(np.asarray(v)) if not torch.is_tensor(v) else v for v in i]
            if not p.is_floating_point() and not q.is_floating_point():
                y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
                     "Div": np.floor_divide}[op](np.asarray(i[0]), np.asarray(i[1]))
            else:
                y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
                     "Pow": torch.pow}[op](p.float(), q.float())
        elif op == "Clip":
            lo = a.get("min", -np.inf) if len(i) < 2 or i[1] is None else float(i[1])
            hi = a.get("max", np.inf) if len(i) < 3 or i[2] is None else float(i[2])
            y = torch.clamp(i[0], lo, hi)
        elif op == "Relu":
            y = torch.relu(i[0])
        elif op == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif op == "HardSigmoid":
            y = torch.clamp(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)
        elif op == "Sqrt":
            y = torch.sqrt(i[0])
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "AveragePool":
            y = avgpool(i[0], a)
        elif op == "ReduceMean":
            y = i[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
        elif op == "MatMul":
            y = torch.matmul(i[0], i[1])
        elif op == "Transpose":
            y = i[0].permute(*a["perm"])
        elif op == "Shape":
            y = np.array(i[0].shape, dtype=np.int64)
        elif op == "Cast":
            to = a["to"]
            if torch.is_tensor(i[0]):
                if to != 1:
                    raise ValueError("Cast of an activation to %d" % to)
                y = i[0]
            else:
                y = np.asarray(i[0]).astype({6: np.int32, 7: np.int64, 1: np.float32}[to])
        elif op == "Slice":
            y = slice_(i[0], n, a, env)
        elif op == "Squeeze":
            ax = a["axes"] if "axes" in a else list(np.asarray(i[1]))
            y = i[0]
            for q in sorted([q % y.ndim for q in ax], reverse=True):
                assert y.shape[q] == 1
                y = y.squeeze(q) if torch.is_tensor(y) else np.squeeze(y, q)
        elif op == "Concat":
            if all(not torch.is_tensor(v) for v in i):
                y = np.concatenate([np.asarray(v).astype(np.int64) for v in i], a["axis"])
            else:
                y = torch.cat(i, a["axis"])
        elif op == "Reshape":
            s = [int(v) for v in np.asarray(i[1]).reshape(-1)]
            s = [i[0].shape[q] if v == 0 else v for q, v in enumerate(s)]
            y = i[0].reshape(s)
        elif op == "Softmax":
            ax = a.get("axis", 1)
            if ax % i[0].ndim != i[0].ndim - 1:
                raise ValueError("Softmax over an axis other than the last")
            y = torch.softmax(i[0], ax)
        else:
            raise ValueError("operator %s is not in this evaluator" % op)
        env[n.output[0]] = y
    return env[g.output[0].name]


def main():
    model = onnx.load(sys.argv[1])
    x = np.load(sys.argv[2]).astype(np.float32)
    with torch.no_grad():
        y = run(model, x)
    y = y.numpy().astype(np.float32)
    np.save(sys.argv[3], y)
    print("reference output %s" % list(y.shape))
    if len(sys.argv) > 4:
        z = np.load(sys.argv[4])
        if z.ndim == 4 and y.ndim == 3 and z.shape[3] == 1:
            z = z[..., 0].transpose(0, 2, 1)
        if z.shape != y.shape:
            sys.exit("nmlab's output %s does not match the reference's %s" % (z.shape, y.shape))
        d = float(np.abs(z - y).max())
        print("max |nmlab - reference| %.3g, max |reference| %.3g, argmax over the last axis "
              "equal at %d of %d positions" % (d, float(np.abs(y).max()),
                                               int((z.argmax(-1) == y.argmax(-1)).sum()),
                                               y[..., 0].size))


if __name__ == "__main__":
    main()
