#!/usr/bin/python3
"""Writes tests/golden/index_loss_golden.h: PyTorch 1.13 (CPU) reference values for softmax,
the losses, indexing and joining ops. Inputs are generated here and printed too, so the C++
tests never need Python.

Run from the repository root:  /usr/bin/python3 tests/golden/gen_index_loss.py
"""
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)

out = []


def arr(name, t, ctype="double"):
    vals = t.detach().reshape(-1).tolist()
    if ctype == "double":
        body = ", ".join(repr(float(v)) for v in vals)
    else:
        body = ", ".join(str(int(v)) for v in vals)
    out.append(f"inline const std::vector<{ctype}> {name} = {{{body}}};")


def shape(name, s):
    out.append(f"inline const ts::Shape {name} = {{{', '.join(str(int(v)) for v in s)}}};")


# ---- softmax / log_softmax --------------------------------------------------------------------
x = torch.randn(2, 3, 4)
arr("softmax_x", x)
shape("softmax_shape", x.shape)
for d in range(3):
    arr(f"softmax_dim{d}", torch.softmax(x, d))
    arr(f"log_softmax_dim{d}", torch.log_softmax(x, d))
# Large magnitudes: only a max-subtracted kernel gets these right.
big = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1003.0]])
arr("softmax_big_x", big)
arr("softmax_big", torch.softmax(big, 1))
arr("log_softmax_big", torch.log_softmax(big, 1))
# Backward of a weighted sum (grad_out = w) for both flavours, dim 1.
w = torch.randn(2, 3, 4)
arr("softmax_gout", w)
for name, fn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
    xr = x.clone().requires_grad_()
    (fn(xr, 1) * w).sum().backward()
    arr(f"{name}_grad_dim1", xr.grad)

# ---- cross_entropy / nll_loss ------------------------------------------------------------------
N, C = 6, 5
logits = torch.randn(N, C)
target = torch.tensor([0, 3, 4, 1, 3, 2])
target_ign = torch.tensor([0, 3, -100, 1, 3, 2])
target_ign7 = torch.tensor([0, 7, 4, 7, 3, 2])
weight = torch.rand(C) + 0.5
arr("ce_logits", logits)
arr("ce_target", target, "int64_t")
arr("ce_target_ign", target_ign, "int64_t")
arr("ce_target_ign7", target_ign7, "int64_t")
arr("ce_weight", weight)
cases = {
    "plain": dict(t=target),
    "w": dict(t=target, weight=weight),
    "ign": dict(t=target_ign),
    "w_ign7": dict(t=target_ign7, weight=weight, ignore_index=7),
    "ls": dict(t=target, label_smoothing=0.2),
    "w_ls": dict(t=target, weight=weight, label_smoothing=0.1),
    "ign_ls": dict(t=target_ign, label_smoothing=0.3),
    "w_ign_ls": dict(t=target_ign, weight=weight, label_smoothing=0.25),
    "w_ign7_ls": dict(t=target_ign7, weight=weight, ignore_index=7, label_smoothing=0.15),
}
for cname, kw in cases.items():
    kw = dict(kw)
    t = kw.pop("t")
    for red in ["none", "mean", "sum"]:
        arr(f"ce_{cname}_{red}", F.cross_entropy(logits, t, reduction=red, **kw))
    lr = logits.clone().requires_grad_()
    F.cross_entropy(lr, t, reduction="mean", **kw).backward()
    arr(f"ce_{cname}_grad", lr.grad)

# K-dimensional input (N, C, d1, d2) with weights, ignore_index and label smoothing.
xk = torch.randn(2, 3, 2, 2)
tk = torch.tensor([[[0, 2], [1, -100]], [[2, 2], [0, 1]]])
arr("cek_x", xk)
shape("cek_x_shape", xk.shape)
arr("cek_t", tk, "int64_t")
shape("cek_t_shape", tk.shape)
wk = torch.tensor([0.3, 1.2, 0.8])
arr("cek_w", wk)
for red in ["none", "mean", "sum"]:
    arr(f"cek_{red}", F.cross_entropy(xk, tk, weight=wk, reduction=red, label_smoothing=0.2))
xr = xk.clone().requires_grad_()
F.cross_entropy(xr, tk, weight=wk, reduction="mean", label_smoothing=0.2).backward()
arr("cek_grad", xr.grad)
# Unbatched (C) input with a 0-d target.
x1 = torch.randn(4)
arr("ce1_x", x1)
arr("ce1_val", F.cross_entropy(x1, torch.tensor(2), label_smoothing=0.1).reshape(1))

# nll_loss on log-probabilities.
lp = torch.log_softmax(torch.randn(N, C), 1)
arr("nll_input", lp)
for red in ["none", "mean", "sum"]:
    arr(f"nll_w_ign_{red}", F.nll_loss(lp, target_ign, weight=weight, reduction=red))
lpk = torch.log_softmax(xk, 1)
arr("nllk_input", lpk)
for red in ["none", "mean", "sum"]:
    arr(f"nllk_w_{red}", F.nll_loss(lpk, tk, weight=wk, reduction=red))

# ---- mse_loss ----------------------------------------------------------------------------------
a = torch.randn(3, 4)
b = torch.randn(3, 4)
arr("mse_a", a)
arr("mse_b", b)
for red in ["none", "mean", "sum"]:
    arr(f"mse_{red}", F.mse_loss(a, b, reduction=red))

# ---- indexing ----------------------------------------------------------------------------------
src = torch.randn(4, 5, 3)
arr("idx_x", src)
shape("idx_x_shape", src.shape)
isel = torch.tensor([3, 0, 3, 1])
arr("isel_index", isel, "int64_t")
for d in range(3):
    ii = isel.clamp(max=src.shape[d] - 1)
    arr(f"isel_index_dim{d}", ii, "int64_t")
    arr(f"isel_dim{d}", torch.index_select(src, d, ii))
    # backward: index_add of the upstream gradient, duplicates accumulate
    xr = src.clone().requires_grad_()
    g = torch.arange(torch.index_select(src, d, ii).numel(), dtype=torch.float64).reshape(
        torch.index_select(src, d, ii).shape)
    torch.index_select(xr, d, ii).backward(g)
    arr(f"isel_grad_dim{d}", xr.grad)

gsrc = torch.randn(3, 4)
arr("gather_x", gsrc)
gidx1 = torch.tensor([[0, 3], [2, 2], [1, 0]])
gidx0 = torch.tensor([[2, 0, 1, 1], [0, 0, 2, 1]])
arr("gather_idx1", gidx1, "int64_t")
arr("gather_idx0", gidx0, "int64_t")
arr("gather_dim1", torch.gather(gsrc, 1, gidx1))
arr("gather_dim0", torch.gather(gsrc, 0, gidx0))
# index smaller than x in a non-gathered dim
gidx_small = torch.tensor([[1, 0], [2, 1]])
arr("gather_idx_small", gidx_small, "int64_t")
arr("gather_small_dim0", torch.gather(gsrc, 0, gidx_small))

sbase = torch.randn(3, 4)
ssrc = torch.randn(2, 4)
arr("scatter_base", sbase)
arr("scatter_src", ssrc)
sidx = torch.tensor([[2, 0, 2, 1], [2, 1, 0, 1]])
arr("scatter_idx", sidx, "int64_t")
arr("scatter_add_dim0", torch.scatter_add(sbase, 0, sidx, ssrc))
sidx1 = torch.tensor([[3, 3], [0, 1]])
arr("scatter_idx1", sidx1, "int64_t")
arr("scatter_add_dim1_small", torch.scatter_add(sbase, 1, sidx1, ssrc))

oh = torch.tensor([[0, 2], [3, 1]])
arr("one_hot_in", oh, "int64_t")
arr("one_hot_5", F.one_hot(oh, 5), "int64_t")
arr("one_hot_infer", F.one_hot(oh), "int64_t")

emb_w = torch.randn(6, 3)
emb_i = torch.tensor([[1, 5, 1], [0, 2, 1]])
arr("emb_w", emb_w)
arr("emb_i", emb_i, "int64_t")
arr("emb_out", F.embedding(emb_i, emb_w))
wr = emb_w.clone().requires_grad_()
eg = torch.randn(2, 3, 3)
arr("emb_gout", eg)
F.embedding(emb_i, wr).backward(eg)
arr("emb_grad", wr.grad)

# ---- join --------------------------------------------------------------------------------------
ca = torch.randn(2, 3)
cb = torch.randn(2, 1)
arr("cat_a", ca)
arr("cat_b", cb)
arr("cat_dim1", torch.cat([ca, cb], 1))
arr("cat_dim0_promoted", torch.cat([ca, torch.tensor([[1, 2, 3]], dtype=torch.int64)], 0))
arr("stack_dim1", torch.stack([ca, ca * 2], 1))

header = [
    "#pragma once",
    "// Generated by tests/golden/gen_index_loss.py from PyTorch " + torch.__version__ + " (CPU). Do not edit.",
    "#include <cstdint>",
    "#include <vector>",
    "",
    '#include "tessera/shape.h"',
    "",
    "namespace golden::index_loss {",
    "// clang-format off",
    *out,
    "// clang-format on",
    "}  // namespace golden::index_loss",
    "",
]
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "index_loss_golden.h")
with open(path, "w") as f:
    f.write("\n".join(header))
print("wrote", path)
