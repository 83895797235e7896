"""Timing harness: the full LoFTR outdoor forward in plain PyTorch, for comparison with
`deno task bench` on the same CPU cores.

The network follows ../shared/docs/loftr.md (ResNetFPN_8_2 backbone with eval-mode
BatchNorm, legacy positional encoding, 8 linear-attention layers, dual-softmax mutual
nearest neighbours, 5x5 fine windows, 2 fine layers, expectation), with seeded random
weights: it is a timing harness, not a reference (the reference numbers are in
../shared/reference). Both images go through the backbone as one batch of 2, as in the
reference implementation. The fine stage is timed on the matches found (threshold 0, as
the random-weights reference) and, for comparison with the WebGPU engine, which refines
every slot of its match list, on one window per coarse cell ("fine stage at capacity").

Usage: /usr/bin/python3 bench/pytorch_loftr.py [--size 640x480] [--threads 2] [--reps 2]
       [--warmup 1] [--out FILE.json]
with Debian's python3-torch (`apt-get install python3-torch`). Its linear layers go through
the system BLAS, which is the slow reference BLAS unless an optimised one is installed; to
use OpenBLAS without installing it system-wide:
  apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb /tmp/openblas
  LD_LIBRARY_PATH=/tmp/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 ...
The BLAS library actually loaded is recorded in the output.
"""
import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin, cout, k, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)
    )


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.conv2 = conv_bn(cout, cout, 3, 1)
        self.down = conv_bn(cin, cout, 1, stride) if stride != 1 else None

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu((self.down(x) if self.down else x) + y)


class ResNetFPN82(nn.Module):
    def __init__(self, dims=(128, 196, 256)):
        super().__init__()
        self.stem = conv_bn(1, dims[0], 7, 2)
        self.layers = nn.ModuleList()
        cin = dims[0]
        for i, c in enumerate(dims):
            stride = 1 if i == 0 else 2
            self.layers.append(nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1)))
            cin = c
        self.out3 = nn.Conv2d(dims[2], dims[2], 1, bias=False)
        self.out2 = nn.Conv2d(dims[1], dims[2], 1, bias=False)
        self.smooth2 = nn.Sequential(
            conv_bn(dims[2], dims[2], 3, 1), nn.LeakyReLU(0.01),
            nn.Conv2d(dims[2], dims[1], 3, 1, 1, bias=False),
        )
        self.out1 = nn.Conv2d(dims[0], dims[1], 1, bias=False)
        self.smooth1 = nn.Sequential(
            conv_bn(dims[1], dims[1], 3, 1), nn.LeakyReLU(0.01),
            nn.Conv2d(dims[1], dims[0], 3, 1, 1, bias=False),
        )

    def forward(self, x):
        x0 = F.relu(self.stem(x))
        x1 = self.layers[0](x0)
        x2 = self.layers[1](x1)
        x3 = self.layers[2](x2)
        c = self.out3(x3)
        up = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=True)
        f2 = self.smooth2(self.out2(x2) + up(c, x2))
        f1 = self.smooth1(self.out1(x1) + up(f2, x1))
        return c, f1


def position_encoding(c, h, w):
    d = torch.exp(-2.0 * torch.arange(c // 4, dtype=torch.float32))  # legacy frequencies
    x = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)
    y = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)
    pe = torch.zeros(c, h, w)
    pe[0::4] = torch.sin(x[None] * d[:, None, None])
    pe[1::4] = torch.cos(x[None] * d[:, None, None])
    pe[2::4] = torch.sin(y[None] * d[:, None, None])
    pe[3::4] = torch.cos(y[None] * d[:, None, None])
    return pe


class EncoderLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dim = heads, d // heads
        self.q, self.k, self.v, self.merge = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.mlp = nn.Sequential(
            nn.Linear(2 * d, 2 * d, bias=False), nn.ReLU(), nn.Linear(2 * d, d, bias=False)
        )
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x, src):
        n, L, _ = x.shape
        S = src.shape[1]
        Q = F.elu(self.q(x).view(n, L, self.h, self.dim)) + 1
        K = F.elu(self.k(src).view(n, S, self.h, self.dim)) + 1
        v = self.v(src).view(n, S, self.h, self.dim) / S
        kv = torch.einsum("nshd,nshv->nhdv", K, v)
        z = 1 / (torch.einsum("nlhd,nhd->nlh", Q, K.sum(dim=1)) + 1e-6)
        msg = torch.einsum("nlhd,nhdv,nlh->nlhv", Q, kv, z) * S
        msg = self.norm1(self.merge(msg.reshape(n, L, -1)))
        return x + self.norm2(self.mlp(torch.cat([x, msg], dim=2)))


class Transformer(nn.Module):
    def __init__(self, d, heads, n):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d, heads) for _ in range(n))

    def forward(self, f0, f1):
        for i, layer in enumerate(self.layers):
            if i % 2 == 0:
                f0, f1 = layer(f0, f0), layer(f1, f1)
            else:
                f0 = layer(f0, f1)
                f1 = layer(f1, f0)
        return f0, f1


class LoFTR(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ResNetFPN82()
        self.coarse = Transformer(256, 8, 8)
        self.down_proj = nn.Linear(256, 128)
        self.merge_feat = nn.Linear(256, 128)
        self.fine = Transformer(128, 8, 2)

    def stages(self, images, border=2, thr=0.0):
        """Runs the forward pass stage by stage; yields (stage name, value)."""
        c, f = self.backbone(images)
        yield "backbone", None
        n, C, hc, wc = c.shape
        tokens = (c + position_encoding(C, hc, wc)).flatten(2).transpose(1, 2)
        f0, f1 = self.coarse(tokens[:1], tokens[1:])
        yield "coarse transformer", None
        sim = torch.einsum("nlc,nsc->nls", f0 / C**0.5, f1 / C**0.5) / 0.1
        conf = F.softmax(sim, 1) * F.softmax(sim, 2)
        mask = conf > thr
        cell = torch.zeros(hc, wc, dtype=torch.bool)
        cell[border:hc - border, border:wc - border] = True
        mask &= cell.flatten()[None, :, None] & cell.flatten()[None, None, :]
        mask &= (conf == conf.max(dim=2, keepdim=True).values)
        mask &= (conf == conf.max(dim=1, keepdim=True).values)
        _, i, j = mask.nonzero(as_tuple=True)
        yield "coarse matching", len(i)
        yield "fine refinement", self.refine(f, f0[0], f1[0], i, j, wc)
        # A window per coarse cell, as the WebGPU engine's fixed-capacity match list.
        every = torch.arange(hc * wc)
        yield "fine refinement at capacity", self.refine(f, f0[0], f1[0], every, every, wc)

    def refine(self, fine, c0, c1, i, j, wc, w=5, ratio=4):
        win = F.unfold(fine, kernel_size=w, stride=ratio, padding=w // 2)  # [2, 128·25, L]
        win = win.view(2, fine.shape[1], w * w, -1).permute(0, 3, 2, 1)  # [2, L, 25, 128]
        w0, w1 = win[0][i], win[1][j]
        p0 = self.merge_feat(torch.cat([w0, self.down_proj(c0[i])[:, None].expand_as(w0)], -1))
        p1 = self.merge_feat(torch.cat([w1, self.down_proj(c1[j])[:, None].expand_as(w1)], -1))
        g0, g1 = self.fine(p0, p1)
        heat = F.softmax(torch.einsum("mc,mrc->mr", g0[:, w * w // 2], g1) / 128**0.5, 1)
        grid = torch.stack(torch.meshgrid(
            torch.linspace(-1, 1, w), torch.linspace(-1, 1, w), indexing="xy"), -1).view(-1, 2)
        return (heat @ grid).shape[0]


def loaded_blas():
    """Path of the libblas the process has loaded (Linux), or None."""
    try:
        with open("/proc/self/maps") as f:
            return next((line.split()[-1] for line in f if "libblas" in line or "openblas" in line), None)
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    width, height = map(int, a.size.split("x"))
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = LoFTR().eval()
    with torch.no_grad():
        for m in model.modules():  # BatchNorm statistics as in the random-weights reference
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    images = torch.rand(2, 1, height, width)
    runs = []
    with torch.inference_mode():
        for rep in range(a.warmup + a.reps):
            times, t, extra = {}, time.perf_counter(), {}
            for stage, value in model.stages(images):
                now = time.perf_counter()
                times[stage] = (now - t) * 1e3
                t = now
                if stage == "coarse matching":
                    extra["matches"] = value
            if rep >= a.warmup:
                runs.append((times, extra))
    stages = list(runs[0][0])
    median = lambda v: sorted(v)[(len(v) - 1) // 2]
    per_stage = {s: median([r[0][s] for r in runs]) for s in stages}
    total = sum(v for s, v in per_stage.items() if s != "fine refinement at capacity")
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": loaded_blas(),
        "cpu": platform.processor() or platform.machine(),
        "size": a.size,
        "reps": a.reps,
        "matches": runs[0][1]["matches"],
        "stagesMs": per_stage,
        "endToEndMs": total,
        "endToEndAtCapacityMs": total - per_stage["fine refinement"]
        + per_stage["fine refinement at capacity"],
    }
    for s, v in per_stage.items():
        print(f"{s:30s} {v:10.1f} ms")
    print(f"{'end to end (fine on matches)':30s} {total:10.1f} ms")
    print(f"{'end to end (fine at capacity)':30s} {result['endToEndAtCapacityMs']:10.1f} ms")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
