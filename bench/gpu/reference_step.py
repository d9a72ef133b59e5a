#!/usr/bin/env python3
"""The AVBERT network in plain PyTorch, written for this benchmark from the architecture description in the
repository's README and docs (no code of the paper's authors): a single-pathway 3D ResNet-50 for video, a 2D
ResNet-50 (width 32) for log-mel audio, and visual / audio / multimodal Transformers (6 layers, D 768, 12 heads,
FFN 3072, post-LN) with cross-layer sharing and the low-rank partial cross-Transformer sharing
y = U(normalize(V_i^T x) Sigma_i) + b, Sigma_i = expm(S - S^T), rank 128.

It times the same training step as `avbert bench step --step model`: forward, a plain loss (mean square of every
Transformer output), backward, clip_grad_norm_(1.0) and AdamW(amsgrad, fused when on CUDA), on synthetic inputs
created on the device, warm-up excluded. --precision bf16 uses torch.autocast; --channels-last converts the visual CNN
and its input to channels_last_3d; cudnn.benchmark is on for CUDA. Prints one line: clips/s and peak memory.

    python3 bench/gpu/reference_step.py --device cuda --batch 8 --precision bf16 --channels-last
    python3 bench/gpu/reference_step.py --device cpu --tiny --steps 2      # checks the script itself
"""
import argparse, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def bn3(c): return nn.BatchNorm3d(c, eps=1e-5, momentum=0.1)
def bn2(c): return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


class Bottleneck3D(nn.Module):
    def __init__(self, cin, cout, inner, tk, stride):
        super().__init__()
        self.c1 = nn.Conv3d(cin, inner, (tk, 1, 1), padding=(tk // 2, 0, 0), bias=False); self.b1 = bn3(inner)
        self.c2 = nn.Conv3d(inner, inner, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False); self.b2 = bn3(inner)
        self.c3 = nn.Conv3d(inner, cout, 1, bias=False); self.b3 = bn3(cout)
        nn.init.zeros_(self.b3.weight)
        self.short = None
        if cin != cout or stride != 1:
            self.short = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=(1, stride, stride), bias=False), bn3(cout))

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = F.relu(self.b2(self.c2(h)))
        h = self.b3(self.c3(h))
        return F.relu(h + (x if self.short is None else self.short(x)))


class VisualResNet3D(nn.Module):
    def __init__(self, width=64, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, width, (5, 7, 7), stride=(2, 2, 2), padding=(2, 3, 3), bias=False), bn3(width), nn.ReLU(),
                                  nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        layers, cin = [], width
        for s, n in enumerate(blocks):
            cout, inner, tk = width * 4 * 2 ** s, width * 2 ** s, (1, 1, 3, 3)[s]
            for b in range(n):
                layers.append(Bottleneck3D(cin, cout, inner, tk, (1, 2, 2, 2)[s] if b == 0 else 1)); cin = cout
        self.stages = nn.Sequential(*layers)
        self.out = cin

    def forward(self, x): return self.stages(self.stem(x)).mean((2, 3, 4))


class Bottleneck2D(nn.Module):
    def __init__(self, cin, cout, inner, stride, separable):
        super().__init__()
        self.c1 = nn.Conv2d(cin, inner, 1, bias=False); self.b1 = bn2(inner)
        if separable:
            self.mid = nn.Sequential(nn.Conv2d(inner, inner, (3, 1), stride=(stride, 1), padding=(1, 0), bias=False), bn2(inner), nn.ReLU(),
                                     nn.Conv2d(inner, inner, (1, 3), stride=(1, stride), padding=(0, 1), bias=False), bn2(inner))
        else:
            self.mid = nn.Sequential(nn.Conv2d(inner, inner, 3, stride=stride, padding=1, bias=False), bn2(inner))
        self.c3 = nn.Conv2d(inner, cout, 1, bias=False); self.b3 = bn2(cout)
        nn.init.zeros_(self.b3.weight)
        self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), bn2(cout)) if (cin != cout or stride != 1) else None

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = F.relu(self.mid(h))
        h = self.b3(self.c3(h))
        return F.relu(h + (x if self.short is None else self.short(x)))


class AudioResNet2D(nn.Module):
    def __init__(self, width=32, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, (9, 1), padding=(4, 0), bias=False), bn2(width), nn.ReLU(),
                                  nn.Conv2d(width, width, (1, 9), padding=(0, 4), bias=False), bn2(width), nn.ReLU())
        layers, cin = [], width
        for s, n in enumerate(blocks):
            cout, inner = width * 4 * 2 ** s, width * 2 ** s
            for b in range(n):
                layers.append(Bottleneck2D(cin, cout, inner, 2 if b == 0 else 1, s in (1, 2))); cin = cout
        self.stages = nn.Sequential(*layers)
        self.out = cin

    def forward(self, x): return self.stages(self.stem(x)).mean((2, 3))


class Orthogonal(nn.Module):
    """Sigma = expm(S - S^T), S the strict upper triangle of a free parameter (Cayley-style start)."""
    def __init__(self, o):
        super().__init__()
        a = torch.zeros(o, o)
        d = -torch.tan(torch.rand(o // 2) * math.pi / 4)
        a[torch.arange(0, o - 1, 2), torch.arange(1, o, 2)] = d
        self.a = nn.Parameter(a)

    def forward(self):
        with torch.autocast(self.a.device.type, enabled=False):
            s = self.a.triu(1)
            return torch.linalg.matrix_exp(s - s.t())


class LowRankShared(nn.Module):
    """One weight shared by the three Transformers: y = U(normalize(V_i^T x) Sigma_i) + b."""
    def __init__(self, n_in, n_out, rank, owners=3):
        super().__init__()
        self.u = nn.Linear(rank, n_out)
        self.v = nn.ModuleList(nn.Linear(n_in, rank, bias=False) for _ in range(owners))
        self.sigma = nn.ModuleList(Orthogonal(rank) for _ in range(owners))

    def forward(self, x, i, sigmas):
        return self.u(F.normalize(self.v[i](x), dim=-1) @ sigmas[i][id(self.sigma[i])])


def attention(q, k, v, p):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    w = F.dropout((q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1), p)   # PyTorch < 2.0 (CPU checks)
    return w @ v


class SharedLayer(nn.Module):
    def __init__(self, d=768, heads=12, ffn=3072, rank=128, p=0.1):
        super().__init__()
        self.heads, self.p = heads, p
        self.q, self.k, self.v, self.o = (LowRankShared(d, d, rank) for _ in range(4))
        self.f1, self.f2 = LowRankShared(d, ffn, rank), LowRankShared(ffn, d, rank)
        self.ln1 = nn.ModuleList(nn.LayerNorm(d, eps=1e-12) for _ in range(3))
        self.ln2 = nn.ModuleList(nn.LayerNorm(d, eps=1e-12) for _ in range(3))

    def forward(self, x, i, sig):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)
        a = attention(split(self.q(x, i, sig)), split(self.k(x, i, sig)), split(self.v(x, i, sig)), self.p if self.training else 0.0)
        a = F.dropout(self.o(a.transpose(1, 2).reshape(b, n, d), i, sig), self.p, self.training)
        x = self.ln1[i](x + a)
        h = self.f2(F.gelu(self.f1(x, i, sig)), i, sig)
        return self.ln2[i](x + F.dropout(h, self.p, self.training))


class AvBert(nn.Module):
    def __init__(self, vis_width=64, aud_width=32, blocks=(3, 4, 6, 3), d=768, heads=12, ffn=3072, layers=6, rank=128):
        super().__init__()
        self.visual, self.audio = VisualResNet3D(vis_width, blocks), AudioResNet2D(aud_width, blocks)
        self.vproj = nn.Sequential(nn.Linear(self.visual.out, d), nn.LayerNorm(d, eps=1e-12))
        self.aproj = nn.Sequential(nn.Linear(self.audio.out, d), nn.LayerNorm(d, eps=1e-12))
        self.bos = nn.Parameter(torch.randn(2, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(3, 22, d) * 0.02)         # per Transformer: position table
        self.modality = nn.Parameter(torch.randn(2, d) * 0.02)         # multimodal: which modality
        self.emb_ln = nn.ModuleList(nn.LayerNorm(d, eps=1e-12) for _ in range(3))
        self.layer = SharedLayer(d, heads, ffn, rank)                  # cross-layer sharing: one layer, L applications
        self.layers = layers

    def transformer(self, x, i):
        # Each Sigma once per forward for all L applications of the shared layer.
        sig = {}
        for m in self.layer.modules():
            if isinstance(m, LowRankShared):
                sig.setdefault(i, {})[id(m.sigma[i])] = m.sigma[i]()
        for _ in range(self.layers): x = self.layer(x, i, sig)
        return x

    def forward(self, video, audio):                                 # [B,T,3,F,H,W], [B,T,1,80,128]
        b, t = video.shape[:2]
        v = video.flatten(0, 1)
        if getattr(self, "channels_last", False): v = v.contiguous(memory_format=torch.channels_last_3d)
        xv = self.vproj(self.visual(v).view(b, t, -1))
        xa = self.aproj(self.audio(audio.flatten(0, 1)).view(b, t, -1))
        sv = torch.cat([self.bos[0].expand(b, 1, -1), xv], 1)
        sa = torch.cat([self.bos[1].expand(b, 1, -1), xa], 1)
        yv = self.transformer(F.dropout(self.emb_ln[0](sv + self.pos[0, : t + 1]), 0.1, self.training), 0)
        ya = self.transformer(F.dropout(self.emb_ln[1](sa + self.pos[1, : t + 1]), 0.1, self.training), 1)
        m = torch.cat([yv + self.modality[0], ya + self.modality[1]], 1) + torch.cat([self.pos[2, : t + 1]] * 2, 0)
        ym = self.transformer(F.dropout(self.emb_ln[2](m), 0.1, self.training), 2)
        return yv, ya, ym


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="bf16")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="a tiny network and geometry (checks the script on a CPU)")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = a.precision != "fp32"
    torch.backends.cudnn.benchmark = cuda
    torch.manual_seed(0)
    if a.tiny:
        model = AvBert(vis_width=4, aud_width=4, blocks=(1, 1, 1, 1), d=32, heads=2, ffn=64, layers=2, rank=8)
        a.frames, a.size, a.clips, freq, time_ = 4, 32, 3, 16, 32
    else:
        model = AvBert()
        freq, time_ = 80, 128
    model.to(dev).train()
    if a.channels_last:
        model.visual.to(memory_format=torch.channels_last_3d)
        model.channels_last = True
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.98), eps=1e-8, amsgrad=True, **({"fused": True} if cuda else {}))
    video = torch.randn(a.batch, a.clips, 3, a.frames, a.size, a.size, device=dev)
    audio = torch.randn(a.batch, a.clips, 1, freq, time_, device=dev)

    def step():
        opt.zero_grad(set_to_none=False)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            outs = model(video, audio)
        loss = sum(o.float().pow(2).mean() for o in outs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(a.warmup): step()
    sync()
    if cuda: torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps): loss = step()
    sync()
    secs = time.perf_counter() - t0
    clips = a.batch * a.clips * a.steps / secs
    mem = ""
    if cuda:
        mem = f", peak allocated {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, reserved {torch.cuda.max_memory_reserved() / 2**30:.2f} GiB"
    assert math.isfinite(loss.item()), "loss is not finite"
    print(f"reference-pytorch {dev.type} {a.precision}{' channels_last_3d' if a.channels_last else ''} B={a.batch} "
          f"T={a.clips} {a.frames}x{a.size}^2 + {freq}x{time_}: {clips:.1f} clips/s{mem} "
          f"({sum(p.numel() for p in model.parameters()):,} parameters)")


if __name__ == "__main__":
    main()
