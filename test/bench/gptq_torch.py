"""Plain PyTorch GPTQ, the baseline of `npm run bench:native` on a GPU.

The reference algorithm as the GPTQ paper's code runs it (blocksize 128, percdamp 0.01, per-row or
per-group asymmetric min-max grid, torch.linalg.cholesky / cholesky_inverse / cholesky(upper=True),
fp32 with TF32 off), one Python iteration per column. It reads the exact W and H the Node benchmark
used (raw little-endian float32 files it wrote) and prints one JSON line:
{"ms": <time of one GPTQ on the GPU, inputs already there>, "loss": Σ(w−q)²/d²/2, "device": ...}.

Dev tooling only (the product never needs Python):
  python3 test/bench/gptq_torch.py --w W.bin --h H.bin --rows 4096 --cols 4096 [--bits 4 --group 128]
"""
import argparse
import json
import time

import numpy as np
import torch


def grid(x, maxq):
    """Per-row min-max grid with the range forced to include 0 (rows × 1 scale and zero)."""
    zero_t = torch.zeros(x.shape[0], device=x.device)
    xmin = torch.minimum(x.min(1).values, zero_t)
    xmax = torch.maximum(x.max(1).values, zero_t)
    both = (xmin == 0) & (xmax == 0)
    xmin[both] = -1
    xmax[both] = 1
    scale = (xmax - xmin) / maxq
    zero = torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def dequant(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def gptq(W, H, bits, group, blocksize=128, percdamp=0.01):
    W = W.clone()
    H = H.clone()
    rows, cols = W.shape
    maxq = 2**bits - 1
    if group <= 0:
        scale, zero = grid(W, maxq)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    diag = torch.arange(cols, device=W.device)
    H[diag, diag] += percdamp * torch.mean(torch.diag(H))
    L = torch.linalg.cholesky(H)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)
    Q = torch.zeros_like(W)
    losses = torch.zeros(rows, device=W.device)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        L1 = torch.zeros_like(W1)
        U1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            w = W1[:, i]
            d = U1[i, i]
            if group > 0 and (i1 + i) % group == 0:
                scale, zero = grid(W[:, i1 + i:i1 + i + group], maxq)
            q = dequant(w.unsqueeze(1), scale, zero, maxq).flatten()
            Q1[:, i] = q
            L1[:, i] = (w - q) ** 2 / d**2 / 2
            err = (w - q) / d
            W1[:, i:] -= err.unsqueeze(1).matmul(U1[i, i:].unsqueeze(0))
            Err1[:, i] = err
        Q[:, i1:i2] = Q1
        losses += torch.sum(L1, 1)
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return Q, losses.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--w", required=True)
    ap.add_argument("--h", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--cols", type=int, required=True)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group", type=int, default=128)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    W = torch.from_numpy(np.fromfile(a.w, dtype="<f4").reshape(a.rows, a.cols)).to(dev)
    H = torch.from_numpy(np.fromfile(a.h, dtype="<f4").reshape(a.cols, a.cols)).to(dev)
    gptq(W[:256], H, a.bits, a.group)  # warm-up: CUDA context, cuSOLVER and cuBLAS handles
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    _, loss = gptq(W, H, a.bits, a.group)
    loss = float(loss)  # waits for the device
    if dev == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"ms": ms, "loss": loss, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
