#!/usr/bin/python3
"""Writes tests/golden/optim_golden.h: PyTorch 1.13 (CPU) reference trajectories for SGD, Adam
and AdamW (every option combination), learning-rate schedules and clip_grad_norm_.

The problem is a separable quadratic with a time-varying linear term: for each parameter p,
at step t (1-based) the gradient is  g = c * p + d * cos(0.7 * t)  with fixed tensors c > 0 and
d. The C++ tests compute the same gradient with the same ops, so both sides see identical
gradients and the trajectories differ only by the rounding of the update itself.

Run from the repository root:  /usr/bin/python3 tests/golden/gen_optim.py
"""
import math
import os

import torch

torch.manual_seed(2024)
torch.set_default_dtype(torch.float64)

STEPS = 10
SHAPES = [(3, 4), (5,)]
INIT = [torch.randn(s) for s in SHAPES]
C = [torch.rand(s) + 0.5 for s in SHAPES]
D = [torch.randn(s) for s in SHAPES]

out = []


def fmt(v):
    return repr(float(v))


def arr(name, values):
    out.append(f"inline const std::vector<double> {name} = {{{', '.join(fmt(v) for v in values)}}};")


def flat(tensors):
    return [float(v) for t in tensors for v in t.detach().reshape(-1).tolist()]


def make_params(dtype):
    return [t.clone().to(dtype).requires_grad_() for t in INIT]


def set_grads(params, t):
    s = math.cos(0.7 * t)
    for p, c, d in zip(params, C, D):
        c_, d_ = c.to(p.dtype), d.to(p.dtype)
        p.grad = c_ * p.detach() + d_ * s


def trajectory(make_opt, dtype=torch.float64):
    params = make_params(dtype)
    opt = make_opt(params)
    traj = []
    for t in range(1, STEPS + 1):
        set_grads(params, t)
        opt.step()
        traj += flat(params)
    return traj, opt, params


def b(v):
    return "true" if v else "false"


# ---- problem ------------------------------------------------------------------------------------
for i, s in enumerate(SHAPES):
    out.append(f"inline const ts::Shape shape{i} = {{{', '.join(str(n) for n in s)}}};")
    arr(f"init{i}", INIT[i].reshape(-1).tolist())
    arr(f"c{i}", C[i].reshape(-1).tolist())
    arr(f"d{i}", D[i].reshape(-1).tolist())
out.append(f"inline constexpr int kSteps = {STEPS};")

# ---- SGD: every valid combination -----------------------------------------------------------------
out.append("struct SgdCase { const char* name; double lr, momentum, dampening, weight_decay; bool nesterov, maximize; "
           "std::vector<double> traj; };")
cases = []
for momentum, dampening, nesterov in [(0.0, 0.0, False), (0.9, 0.0, False), (0.9, 0.0, True), (0.9, 0.5, False)]:
    for wd in [0.0, 0.01]:
        for maximize in [False, True]:
            lr = 0.1
            traj, _, _ = trajectory(lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum, dampening=dampening,
                                                               weight_decay=wd, nesterov=nesterov, maximize=maximize,
                                                               foreach=False))
            name = f"mom{momentum}_damp{dampening}_nest{int(nesterov)}_wd{wd}_max{int(maximize)}"
            cases.append(f'{{"{name}", {lr}, {momentum}, {dampening}, {wd}, {b(nesterov)}, {b(maximize)}, '
                         f'{{{", ".join(fmt(v) for v in traj)}}}}}')
out.append("inline const std::vector<SgdCase> sgd_cases = {\n" + ",\n".join(cases) + "};")

# ---- Adam / AdamW ---------------------------------------------------------------------------------
out.append("struct AdamCase { const char* name; bool adamw; double lr, beta1, beta2, eps, weight_decay; "
           "bool amsgrad, maximize; std::vector<double> traj; };")
cases = []
for adamw in [False, True]:
    for wd in [0.0, 0.1]:
        for amsgrad in [False, True]:
            for maximize in [False, True]:
                # beta2 = 0.9 with amsgrad so the running max really differs from exp_avg_sq.
                lr, beta1, beta2, eps = 0.05, 0.9, (0.9 if amsgrad else 0.999), 1e-8
                cls = torch.optim.AdamW if adamw else torch.optim.Adam
                traj, opt, params = trajectory(lambda ps: cls(ps, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd,
                                                              amsgrad=amsgrad, maximize=maximize, foreach=False))
                if amsgrad:
                    st = opt.state[params[0]]
                    assert not torch.equal(st["max_exp_avg_sq"], st["exp_avg_sq"]), "amsgrad had no effect"
                name = f"{'adamw' if adamw else 'adam'}_wd{wd}_ams{int(amsgrad)}_max{int(maximize)}"
                cases.append(f'{{"{name}", {b(adamw)}, {lr}, {beta1}, {beta2}, {eps}, {wd}, {b(amsgrad)}, {b(maximize)}, '
                             f'{{{", ".join(fmt(v) for v in traj)}}}}}')
# non-default betas and a large eps (eps dominates the denominator early on)
for adamw in [False, True]:
    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    traj, _, _ = trajectory(lambda ps: cls(ps, lr=0.02, betas=(0.5, 0.75), eps=0.1, weight_decay=0.05, foreach=False))
    cases.append(f'{{"{"adamw" if adamw else "adam"}_betas_eps", {b(adamw)}, 0.02, 0.5, 0.75, 0.1, 0.05, false, false, '
                 f'{{{", ".join(fmt(v) for v in traj)}}}}}')
out.append("inline const std::vector<AdamCase> adam_cases = {\n" + ",\n".join(cases) + "};")

# ---- float32 trajectories -----------------------------------------------------------------------------
traj, _, _ = trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01,
                                                   foreach=False), torch.float32)
arr("sgd_f32", traj)
traj, _, _ = trajectory(lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.9, 0.9), weight_decay=0.1, amsgrad=True,
                                                    foreach=False), torch.float32)
arr("adam_f32", traj)
traj, _, _ = trajectory(lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1, foreach=False), torch.float32)
arr("adamw_f32", traj)

# ---- parameter groups ---------------------------------------------------------------------------------
traj, _, _ = trajectory(lambda ps: torch.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05,
                                                                            "weight_decay": 0.0}],
                                                   lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False))
arr("sgd_groups", traj)
traj, _, _ = trajectory(lambda ps: torch.optim.AdamW([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.003,
                                                                              "weight_decay": 0.0, "amsgrad": True}],
                                                     lr=0.05, weight_decay=0.1, foreach=False))
arr("adamw_groups", traj)

# ---- learning-rate schedules (two groups: lr 0.1 and 0.05) --------------------------------------------


def schedule(make_sched, steps):
    p = torch.zeros(1, requires_grad=True)
    q = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.05}], lr=0.1)
    sched = make_sched(opt)
    lrs = list(sched.get_last_lr())
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs += sched.get_last_lr()
    return lrs


LRS = torch.optim.lr_scheduler
arr("step_lr", schedule(lambda o: LRS.StepLR(o, step_size=3, gamma=0.5), 12))
arr("multistep_lr", schedule(lambda o: LRS.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.1), 12))
arr("cosine_lr", schedule(lambda o: LRS.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 30))
arr("warmup_cosine_lr",
    schedule(lambda o: LRS.SequentialLR(o, [LRS.LinearLR(o, start_factor=0.1, total_iters=5),
                                            LRS.CosineAnnealingLR(o, T_max=15, eta_min=1e-4)], milestones=[5]), 20))


def plateau(metrics, **kw):
    p = torch.zeros(1, requires_grad=True)
    q = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.05}], lr=0.1)
    sched = LRS.ReduceLROnPlateau(opt, **kw)
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs += [g["lr"] for g in opt.param_groups]
    return lrs, sched


m1 = [1.0, 0.9, 0.85, 0.849, 0.85, 0.86, 0.84, 0.8, 0.8, 0.8, 0.8, 0.8, 0.79, 0.795, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
lrs, s = plateau(m1, mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.02)
arr("plateau_min_metrics", m1)
arr("plateau_min_lr", lrs)
out.append(f"inline constexpr double plateau_min_best = {fmt(s.best)};")
out.append(f"inline constexpr int64_t plateau_min_bad = {s.num_bad_epochs};")
m2 = [0.5, 0.55, 0.58, 0.7, 0.72, 0.75, 0.81, 0.8, 0.9, 0.95, 0.99, 1.0, 1.05, 1.1]
lrs, s = plateau(m2, mode="max", factor=0.1, patience=0, threshold=0.1, threshold_mode="abs", min_lr=1e-4)
arr("plateau_max_metrics", m2)
arr("plateau_max_lr", lrs)
out.append(f"inline constexpr double plateau_max_best = {fmt(s.best)};")

# ---- clip_grad_norm_ ------------------------------------------------------------------------------------


def clip(max_norm, norm_type, dtype=torch.float64):
    params = make_params(dtype)
    set_grads(params, 1)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    return float(total), flat([p.grad for p in params])


out.append("struct ClipCase { double max_norm, norm_type, total; std::vector<double> grads; };")
cases = []
for max_norm, norm_type in [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, math.inf), (0.7, 3.0), (2.0, 0.5)]:
    total, grads = clip(max_norm, norm_type)
    nt = "std::numeric_limits<double>::infinity()" if math.isinf(norm_type) else fmt(norm_type)
    cases.append(f"{{{fmt(max_norm)}, {nt}, {fmt(total)}, {{{', '.join(fmt(v) for v in grads)}}}}}")
out.append("inline const std::vector<ClipCase> clip_cases = {\n" + ",\n".join(cases) + "};")
total, grads = clip(1.0, 2.0, torch.float32)
out.append(f"inline constexpr double clip_f32_total = {fmt(total)};")
arr("clip_f32_grads", grads)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_golden.h")
with open(path, "w") as f:
    f.write("#pragma once\n")
    f.write(f"// Generated by tests/golden/gen_optim.py from PyTorch {torch.__version__} (CPU). Do not edit.\n")
    f.write("#include <cstdint>\n#include <limits>\n#include <vector>\n\n#include \"tessera/shape.h\"\n\n")
    f.write("namespace golden::optim {\n// clang-format off\n")
    f.write("\n".join(out))
    f.write("\n// clang-format on\n}  // namespace golden::optim\n")
print("wrote", path)
