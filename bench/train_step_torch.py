#!/usr/bin/env python3
"""Training-step time of the same three models in PyTorch (same shapes, batch, loss and
SGD-momentum update as bench_train_step.cpp). Prints "name batch median_ms" lines.

    python3 bench/train_step_torch.py --threads 2
    python3 bench/train_step_torch.py --device cuda --tf32   # on a GPU (eager, synchronized timing)
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mnist_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def mnist_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10))


class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.extra = stride, planes - inp

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        s = x
        if self.stride != 1 or self.extra:
            s = x[:, :, ::self.stride, ::self.stride]
            s = F.pad(s, (0, 0, 0, 0, self.extra // 2, self.extra // 2))
        return F.relu(out + s)


class ResNet(nn.Module):
    def __init__(self, depth=20):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, inp = [], 16
        for stage in range(3):
            planes = 16 << stage
            for b in range(n):
                layers.append(BasicBlock(inp, planes, 2 if stage > 0 and b == 0 else 1))
                inp = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def has_fp32_precision_api():
    """Whether this PyTorch has torch.backends.cuda.matmul.fp32_precision (>= 2.9); older ones
    raise AssertionError, not AttributeError, for an unknown name, so hasattr() cannot tell."""
    try:
        getattr(torch.backends.cuda.matmul, "fp32_precision")
        return True
    except (AttributeError, AssertionError):
        return False


def select_device(spec, tf32):
    """The torch.device for --device, checked usable; applies --tf32 (CUDA only)."""
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit(f"{sys.argv[0]}: error: --device {spec}: this PyTorch ({torch.__version__}) has no usable CUDA device")
        if (device.index or 0) >= torch.cuda.device_count():
            sys.exit(f"{sys.argv[0]}: error: --device {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
        # Set explicitly either way: PyTorch's own default lets cuDNN convolutions use TF32.
        if has_fp32_precision_api():  # PyTorch >= 2.9 (where the old flags warn)
            torch.backends.cuda.matmul.fp32_precision = "tf32" if tf32 else "ieee"
            torch.backends.cudnn.conv.fp32_precision = "tf32" if tf32 else "ieee"
        else:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
    elif device.type != "cpu":
        sys.exit(f"{sys.argv[0]}: error: --device must be cpu, cuda or cuda:N, got '{spec}'")
    elif tf32:
        print("note: --tf32 only affects CUDA devices; it is ignored on the CPU", file=sys.stderr)
    return device


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_comment(device, tf32):
    if device.type != "cuda":
        return f"# device {device}"
    return (f"# device {device} ({torch.cuda.get_device_name(device)}), TF32 "
            f"{'on' if tf32 else 'off'}, peak allocated "
            f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB, peak reserved "
            f"{torch.cuda.max_memory_reserved(device) / 2**30:.2f} GiB")


def median_ms(step, iters, device, warmup=3):
    """Median milliseconds of `step` after `warmup` calls; on a GPU each timed call sits between
    two torch.cuda.synchronize() calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(max(iters, 1)):
        synchronize(device)
        t0 = time.perf_counter()
        step()
        synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def median_step_ms(model, shape, batch, iters, device):
    torch.manual_seed(0)
    x = torch.randn(batch, *shape).to(device)
    y = torch.randint(0, 10, (batch,)).to(device)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return median_ms(step, iters, device)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--only", choices=["mlp", "cnn", "resnet20"])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 matmul and convolution (CUDA)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = select_device(a.device, a.tf32)
    tf32 = f" (TF32 {'on' if a.tf32 else 'off'})" if device.type == "cuda" else ""
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, median of {a.iters} steps, "
          f"device {device}{tf32}", flush=True)
    if a.only in (None, "mlp"):
        print(f"mlp 128 {median_step_ms(mnist_mlp(), (1, 28, 28), 128, a.iters, device):.3f}", flush=True)
    if a.only in (None, "cnn"):
        print(f"cnn 128 {median_step_ms(mnist_cnn(), (1, 28, 28), 128, a.iters, device):.3f}", flush=True)
    if a.only in (None, "resnet20"):
        print(f"resnet20 64 {median_step_ms(ResNet(20), (3, 32, 32), 64, a.iters, device):.3f}", flush=True)
    if device.type == "cuda":
        print(device_comment(device, a.tf32))


if __name__ == "__main__":
    main()
