#!/usr/bin/env python3
"""Generates tests/golden/modules_golden.h: reference outputs of torch.nn modules from
PyTorch 1.13 (CPU, float64) for tests/nn.

No weights or inputs are shipped: both this script and the C++ tests set them from the same
closed-form formulas, so the header holds only the expected results:
  parameter number k (in named_parameters() order), element i: 0.5 * sin(0.37 i + 0.9 k + 0.25)
  input element i:                                              scale * sin(0.61 i + phase)

Run offline from the repository root:  /usr/bin/python3 tests/golden/gen_modules.py
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules_golden.h")
entries = []


def emit(name, t):
    t = t.detach().to(torch.float64).contiguous()
    shape = ", ".join(str(s) for s in t.shape)
    vals = [repr(float(v)) for v in t.flatten().tolist()]
    lines = ",\n    ".join(", ".join(vals[i:i + 6]) for i in range(0, len(vals), 6))
    entries.append(f"inline const GoldenArray {name}{{{{{shape}}},\n   {{{lines}}}}};")


def emit_str(name, s):
    escaped = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    entries.append(f'inline const char* const {name} = "{escaped}";')


def det(shape, phase=0.0, scale=1.0):
    n = math.prod(shape)
    return (torch.sin(torch.arange(n, dtype=torch.float64) * 0.61 + phase) * scale).reshape(shape)


def fill(model):
    with torch.no_grad():
        for k, (_, p) in enumerate(model.named_parameters()):
            v = torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.37 + (0.9 * k + 0.25)) * 0.5
            p.copy_(v.reshape(p.shape))
    return model


# ---- Linear / Conv2d -----------------------------------------------------------------------
emit("linear_y", fill(nn.Linear(5, 3))(det((4, 5))))
emit("linear_nobias_y", fill(nn.Linear(5, 3, bias=False))(det((2, 3, 5), 0.5)))
emit("conv_groups_y", fill(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2))(det((2, 4, 7, 7))))
emit("conv_dilated_y", fill(nn.Conv2d(3, 4, (3, 2), padding=(1, 0), dilation=2, bias=False))(det((1, 3, 8, 6), 0.3)))

# ---- normalization ---------------------------------------------------------------------------
bn = fill(nn.BatchNorm1d(3))
emit("bn1d_y", bn(det((4, 3), 0.0, 2.0) + 1.0))
emit("bn1d_running_mean", bn.running_mean)
emit("bn1d_running_var", bn.running_var)
bn = fill(nn.BatchNorm1d(3))
emit("bn1d_3d_y", bn(det((4, 3, 5), 0.4)))
emit("bn1d_3d_running_var", bn.running_var)

bn = fill(nn.BatchNorm2d(3, momentum=0.3))
bn(det((2, 3, 4, 5)))
emit("bn2d_train_y", bn(det((2, 3, 4, 5), 1.0, 3.0)))
emit("bn2d_running_mean", bn.running_mean)
emit("bn2d_running_var", bn.running_var)
bn.eval()
emit("bn2d_eval_y", bn(det((1, 3, 4, 5), 2.0)))

bn = nn.BatchNorm2d(3, momentum=None)
bn(det((2, 3, 4, 5)))
bn(det((2, 3, 4, 5), 1.0, 3.0))
bn(det((2, 3, 4, 5), 2.0, 0.5))
emit("bn2d_cma_running_mean", bn.running_mean)
emit("bn2d_cma_running_var", bn.running_var)

bn = nn.BatchNorm2d(3, affine=False, track_running_stats=False).eval()
emit("bn2d_notrack_y", bn(det((2, 3, 4, 5), 0.7)))

emit("ln_y", fill(nn.LayerNorm([4, 5]))(det((2, 3, 4, 5))))
emit("ln_noaffine_y", nn.LayerNorm(5, eps=1e-3, elementwise_affine=False)(det((3, 5), 0.2, 4.0)))

# ---- Embedding -----------------------------------------------------------------------------
emit("embedding_y", fill(nn.Embedding(10, 4))(torch.tensor([[1, 3], [9, 0], [3, 3]])))

# ---- pooling -------------------------------------------------------------------------------
emit("maxpool_y", nn.MaxPool2d(3, 2, 1)(det((2, 3, 7, 7))))
emit("maxpool_ceil_y", nn.MaxPool2d(2, ceil_mode=True)(det((1, 2, 5, 5), 0.3)))
emit("avgpool_y", nn.AvgPool2d(3, 2, 1, count_include_pad=False)(det((2, 3, 7, 7))))
emit("avgpool_plain_y", nn.AvgPool2d(2)(det((1, 2, 5, 5), 0.3)))
emit("adaptive_y", nn.AdaptiveAvgPool2d((3, 2))(det((2, 3, 7, 5))))
emit("adaptive_global_y", nn.AdaptiveAvgPool2d(1)(det((2, 3, 7, 5))))

# ---- activations ---------------------------------------------------------------------------
xa = det((3, 4), 0.2, 3.0)
emit("relu_y", nn.ReLU()(xa))
emit("gelu_y", nn.GELU()(xa))
emit("gelu_tanh_y", nn.GELU(approximate="tanh")(xa))
emit("silu_y", nn.SiLU()(xa))
emit("tanh_y", nn.Tanh()(xa))
emit("sigmoid_y", nn.Sigmoid()(xa))
emit("softmax1_y", nn.Softmax(dim=1)(xa))
emit("softmax0_y", nn.Softmax(dim=0)(xa))

# ---- Sequential: a small CNN, one training step's forward + loss gradients, then eval ----------
seq = fill(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 10)))
y = seq(det((2, 3, 8, 8)))
emit("seq_train_y", y)
loss = nn.CrossEntropyLoss()(y, torch.tensor([3, 7]))
loss.backward()
emit("seq_loss", loss)
emit("seq_grad_conv_w", seq[0].weight.grad)
emit("seq_grad_bn_w", seq[1].weight.grad)
emit("seq_grad_fc_w", seq[5].weight.grad)
emit("seq_grad_fc_b", seq[5].bias.grad)
seq.eval()
emit("seq_eval_y", seq(det((2, 3, 8, 8), 0.9)))

# ---- losses --------------------------------------------------------------------------------
logits = det((4, 5), 0.1, 2.0)
target = torch.tensor([1, 0, 4, 2])
cw = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
emit("ce_mean", nn.CrossEntropyLoss()(logits, target))
emit("ce_sum", nn.CrossEntropyLoss(reduction="sum")(logits, target))
emit("ce_none", nn.CrossEntropyLoss(reduction="none")(logits, target))
emit("ce_weighted", nn.CrossEntropyLoss(weight=cw)(logits, target))
emit("ce_ignore", nn.CrossEntropyLoss(ignore_index=0)(logits, target))
emit("ce_smooth", nn.CrossEntropyLoss(weight=cw, label_smoothing=0.1)(logits, target))
emit("ce_4d", nn.CrossEntropyLoss()(det((2, 3, 2, 2), 0.4, 2.0), torch.tensor([[[0, 1], [2, 1]], [[2, 2], [0, 1]]])))
lp = F.log_softmax(logits, dim=1)
emit("nll_weighted", nn.NLLLoss(weight=cw)(lp, target))
emit("nll_none", nn.NLLLoss(reduction="none", ignore_index=4)(lp, target))

xi, xt = det((3, 4)), det((3, 4), 1.0)
for red in ("mean", "sum", "none"):
    emit(f"mse_{red}", nn.MSELoss(reduction=red)(xi, xt))
    emit(f"l1_{red}", nn.L1Loss(reduction=red)(xi, xt))

# Extreme logits check the stable formulation: exp(100) overflows float32, exp(800) float64.
bx = det((3, 4), 0.3, 4.0)
bx[0, 0], bx[0, 1], bx[1, 0], bx[1, 1] = 50.0, -50.0, 100.0, -800.0
bt = (det((3, 4), 0.7) + 1.0) / 2.0
bw = det((1, 4), 0.1, 0.5) + 1.0
bpw = torch.tensor([0.5, 1.0, 2.0, 3.0])
for red in ("mean", "sum", "none"):
    emit(f"bce_{red}", nn.BCEWithLogitsLoss(reduction=red)(bx, bt))
    emit(f"bce_weighted_{red}", nn.BCEWithLogitsLoss(weight=bw, pos_weight=bpw, reduction=red)(bx, bt))
bxg = bx.clone().requires_grad_()
nn.BCEWithLogitsLoss(weight=bw, pos_weight=bpw)(bxg, bt).backward()
emit("bce_weighted_grad", bxg.grad)

# ---- reprs (the one-line printout of each layer) ----------------------------------------------
reprs = {
    "linear": nn.Linear(5, 3),
    "linear_nobias": nn.Linear(5, 3, bias=False),
    "conv_groups": nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
    "conv_dilated": nn.Conv2d(3, 4, (3, 2), padding=(1, 0), dilation=2, bias=False),
    "bn1d": nn.BatchNorm1d(3),
    "bn2d_cma": nn.BatchNorm2d(3, momentum=None, affine=False, track_running_stats=False),
    "ln": nn.LayerNorm([4, 5]),
    "ln_noaffine": nn.LayerNorm(5, eps=1e-3, elementwise_affine=False),
    "embedding": nn.Embedding(10, 4),
    "maxpool": nn.MaxPool2d(3, 2, 1),
    "maxpool_ceil": nn.MaxPool2d(2, ceil_mode=True),
    "avgpool": nn.AvgPool2d(3, 2, 1, count_include_pad=False),
    "adaptive": nn.AdaptiveAvgPool2d((3, 2)),
    "adaptive_global": nn.AdaptiveAvgPool2d(1),
    "dropout": nn.Dropout(0.25),
    "relu": nn.ReLU(),
    "gelu_tanh": nn.GELU(approximate="tanh"),
    "silu": nn.SiLU(),
    "softmax": nn.Softmax(dim=1),
    "flatten": nn.Flatten(),
    "identity": nn.Identity(),
    "cross_entropy": nn.CrossEntropyLoss(),
}
for name, m in reprs.items():
    emit_str(f"repr_{name}", repr(m))

with open(OUT, "w") as f:
    f.write(f"// Generated by tests/golden/gen_modules.py from PyTorch {torch.__version__} (CPU, float64). "
            "Do not edit.\n")
    f.write("""#pragma once
#include <cstdint>
#include <vector>

#include "tessera/creation.h"

namespace golden::modules {

struct GoldenArray {
  ts::Shape shape;
  std::vector<double> data;
};

// A shape of {} is a 0-d tensor (a reduced loss); ts::tensor would make it 1-d.
inline ts::Tensor to_tensor(const GoldenArray& a, ts::DType dtype = ts::kFloat64) {
  return ts::tensor<double>(a.data, {}, ts::TensorOptions(dtype)).reshape(a.shape);
}

// clang-format off
""")
    f.write("\n".join(entries))
    f.write("\n// clang-format on\n\n}  // namespace golden::modules\n")
print(f"wrote {OUT} ({len(entries)} entries)")
