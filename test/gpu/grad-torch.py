"""Reference check of QRecipe's ONNX gradients against PyTorch autograd on the tiny LM.

Our gradients are produced on the CPU machine with the CLI (token ids of every batch are written
into the JSON), then this script loads the same ONNX weights into the fixture's PyTorch module
(test/fixtures/tiny-lm/model.py: RMSNorm, rotary, SwiGLU, q/k/v/o attention, untied lm_head),
replays the batches, and compares dL/dW per tensor.

  here:    node dist/cli.js grad test/fixtures/tiny-lm/model.onnx --data test/fixtures/tiny-lm/data/calib.txt \
             --batches 2 --batch 4 --seqlen 128 --weights all --out out/grad-gpu/grad-tiny-lm.json
  GPU:     python3 test/gpu/grad-torch.py out/grad-gpu/grad-tiny-lm.json      (carry out/grad-gpu)

Reports, per tensor, ||ours - torch|| / ||torch|| against a float64 reference (and the float32
one on the same device), and exits 1 when the worst float64 error exceeds --tol (default 1e-4).
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "tiny-lm"))
from model import Config, TinyLM, set_fused_attention  # noqa: E402


def load_ours(path):
    with open(path) as f:
        summary = json.load(f)
    raw = np.fromfile(os.path.join(os.path.dirname(path), summary["data"]), dtype="<f4")
    grads = {}
    for w in summary["weights"]:
        start = w["offset"] // 4
        grads[w["tensor"]] = raw[start:start + w["length"]].reshape(w["dims"])
    return summary, grads


def build_model(onnx_path):
    proto = onnx.load(onnx_path)
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    matmul_b = {n.input[1] for n in proto.graph.node if n.op_type == "MatMul"}
    model = TinyLM(Config())
    set_fused_attention(model, False)
    state = model.state_dict()
    stored_transposed = {}
    for name, p in state.items():
        if name not in inits:
            sys.exit(f"{onnx_path}: no initializer '{name}' for the PyTorch parameter of that name")
        arr = inits[name]
        # MatMul weights are stored as W^T ([in, out]) in the ONNX file.
        transposed = name in matmul_b and arr.ndim == 2
        if transposed:
            arr = arr.T
        if arr.shape != tuple(p.shape):
            sys.exit(f"{name}: ONNX shape {inits[name].shape} does not match PyTorch {tuple(p.shape)}")
        state[name] = torch.from_numpy(np.array(arr, copy=True))
        stored_transposed[name] = transposed
    model.load_state_dict(state)
    return model, stored_transposed


def torch_grads(model, batches, device, dtype):
    model = model.to(device=device, dtype=dtype)
    model.zero_grad(set_to_none=True)
    losses = []
    for ids in batches:
        ids = torch.tensor(ids, dtype=torch.long, device=device)
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        (loss / len(batches)).backward()
        losses.append(loss.item())
    grads = {n: p.grad.detach().to("cpu", torch.float64).numpy() for n, p in model.named_parameters()}
    return float(np.mean(losses)), grads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("grads", help="JSON written by `qrecipe grad --out` (with its .bin beside it)")
    ap.add_argument("--model", default=os.path.join(ROOT, "test", "fixtures", "tiny-lm", "model.onnx"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    summary, ours = load_ours(args.grads)
    if summary.get("loss") != "lm" or "tokens" not in summary:
        sys.exit(f"{args.grads}: needs an lm-loss weight-gradient file with token ids (qrecipe grad --out on a token model)")
    batches = [np.array(b["ids"], dtype=np.int64).reshape(b["dims"]) for b in summary["tokens"]]
    model, transposed = build_model(args.model)
    print(f"device {args.device} ({torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu'}), "
          f"torch {torch.__version__}, {len(batches)} batches of {list(batches[0].shape)}")

    results = {}
    for label, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        loss, ref = torch_grads(model, batches, args.device, dtype)
        results[label] = (loss, ref)
    print(f"loss: ours {summary['lossValue']:.6f}, torch float64 {results['float64'][0]:.6f}, "
          f"torch float32 {results['float32'][0]:.6f}")

    worst = {"float64": 0.0, "float32": 0.0}
    rows = []
    for name, g in ours.items():
        if name not in transposed:
            continue  # constants of the graph (rotary tables) are not PyTorch parameters
        row = [name]
        for label in ("float64", "float32"):
            r = results[label][1][name]
            if transposed[name]:
                r = r.T
            err = np.linalg.norm(g.astype(np.float64) - r) / max(np.linalg.norm(r), 1e-30)
            worst[label] = max(worst[label], err)
            row.append(err)
        rows.append(row)
    width = max(len(r[0]) for r in rows)
    print(f"{'tensor'.ljust(width)}  rel.err vs float64  rel.err vs float32")
    for name, e64, e32 in rows:
        print(f"{name.ljust(width)}  {e64:18.3e}  {e32:18.3e}")
    print(f"{len(rows)} tensors; worst relative error: {worst['float64']:.3e} vs torch float64, "
          f"{worst['float32']:.3e} vs torch float32 ({args.device}); tolerance {args.tol:g}")
    missing = [n for n in transposed if n not in ours]
    if missing:
        print(f"not in the gradient file: {', '.join(missing)}")
    sys.exit(0 if worst["float64"] <= args.tol and not missing else 1)


if __name__ == "__main__":
    main()
