#!/usr/bin/env python3
"""Reference for the GPT loss-parity test (tests/train/test_gpt_parity.cpp).

Builds a small nanoGPT-architecture model in PyTorch (pre-norm blocks, fused qkv projection,
exact GELU, learned positions, LM head tied to the token embedding, no dropout), exports its
initial weights, trains it for 20 AdamW steps (weight-decay groups, warmup + cosine schedule,
gradient clipping, 2 accumulated micro-batches per step) on fixed random token batches, and
writes everything the C++ test needs to replay the run into tests/golden/gpt_parity.safetensors:

    init.<param>      float32 initial weights, under Tessera's parameter names
    final.<param>     float32 weights after the 20 steps
    batches           int64 (steps, micro, B, T + 1) token windows
    losses            float64 (steps, micro) training loss of each micro-batch
    lrs               float64 (steps) learning rate used by each step
    grad_norms        float64 (steps) total gradient norm before clipping

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tests/golden/gen_gpt_parity.py
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gpt_parity.safetensors")
CONFIG = dict(vocab_size=65, n_layer=2, n_head=2, n_embd=32, block_size=16)
STEPS, MICRO, BATCH = 20, 2, 4
LR, MIN_LR, WARMUP, WEIGHT_DECAY, BETAS, CLIP = 3e-3, 1e-4, 4, 0.1, (0.9, 0.95), 1.0
WARMUP_START = 0.2


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head = c["n_head"]
        self.ln_1 = nn.LayerNorm(c["n_embd"])
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"])
        self.attn.c_proj = nn.Linear(c["n_embd"], c["n_embd"])
        self.ln_2 = nn.LayerNorm(c["n_embd"])
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"])
        self.mlp.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"])

    def attention(self, x):
        B, T, C = x.shape
        q, k, v = self.attn.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # PyTorch >= 2.0: its fused kernel
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            y = att.masked_fill(torch.ones(T, T).tril() == 0, float("-inf")).softmax(-1) @ v
        return self.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["block_size"], c["n_embd"])
        self.h = nn.ModuleList(Block(c) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(c["n_embd"])
        for name, p in self.named_parameters():  # GPT-2 init, as ts::nn::GPT
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c["n_layer"]))
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    codes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    for name, t in tensors.items():
        t = t.detach().contiguous()
        blob = t.numpy().tobytes()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    torch.manual_seed(1337)
    model = GPT(CONFIG)
    init = {f"init.{n}": p.detach().clone() for n, p in model.named_parameters()}
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=WARMUP_START, total_iters=WARMUP),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS - WARMUP, eta_min=MIN_LR)], milestones=[WARMUP])
    T = CONFIG["block_size"]
    batches = torch.randint(0, CONFIG["vocab_size"], (STEPS, MICRO, BATCH, T + 1), dtype=torch.int64)
    losses = torch.zeros(STEPS, MICRO, dtype=torch.float64)
    lrs = torch.zeros(STEPS, dtype=torch.float64)
    norms = torch.zeros(STEPS, dtype=torch.float64)
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        for m in range(MICRO):
            window = batches[step, m]
            loss = model(window[:, :-1], window[:, 1:])
            losses[step, m] = loss.item()
            (loss / MICRO).backward()
        norms[step] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP))
        lrs[step] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    final = {f"final.{n}": p.detach().clone() for n, p in model.named_parameters()}
    meta = {k: str(v) for k, v in CONFIG.items()}
    meta.update(steps=str(STEPS), micro=str(MICRO), batch=str(BATCH), lr=repr(LR), min_lr=repr(MIN_LR),
                warmup=str(WARMUP), warmup_start=repr(WARMUP_START), weight_decay=repr(WEIGHT_DECAY),
                beta1=repr(BETAS[0]), beta2=repr(BETAS[1]), clip=repr(CLIP), torch=torch.__version__)
    write_safetensors(OUT, {**init, **final, "batches": batches, "losses": losses, "lrs": lrs, "grad_norms": norms},
                      meta)
    print(f"wrote {OUT}: losses {losses[0].tolist()} -> {losses[-1].tolist()}")


if __name__ == "__main__":
    main()
