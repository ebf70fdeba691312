"""QRecipe's 4-bit RTN against onnxruntime's own 4-bit weight quantizer on the tiny LM (issue #19, 9).

onnxruntime's MatMulNBitsQuantizer (formerly MatMul4BitsQuantizer; default: 4 bits, blocks of 128,
asymmetric, RTN) quantises every MatMul with a constant weight: the 28 block projections and
lm_head. QRecipe quantises the same 29 layers with `quantize rtn { targets "MatMul" bits 4 group 128 }`
(a 192-column layer gets a shorter last group, as onnxruntime's blocks), symmetric and asymmetric,
and exports them as MatMulNBits. Every model is scored with the fixture's perplexity protocol
(test/fixtures/tiny-lm/reference.py: the 128 held-out windows of 256 bytes) by the same code, and
the file sizes are printed beside. A fifth row fake-quantises the layers with the symmetric grid
QRecipe used before (scale 2·max|w|/15, zero 8: one level of 16 unused) for comparison.

Dev tooling only (the product never needs Python); needs onnx, onnxruntime and onnx-ir from the
offline mirror and a built CLI (`npm run build:ts`):
  python3 test/bench/ort-4bit-compare.py
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LM = os.path.join(ROOT, "test", "fixtures", "tiny-lm")
sys.path.insert(0, LM)
from reference import metrics, read_windows  # noqa: E402  the fixture's protocol, one copy


def session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(model if isinstance(model, (bytes, str)) else model.SerializeToString(), so)


def ort_quantize(symmetric, out):
    cfg = DefaultWeightOnlyQuantConfig(block_size=128, is_symmetric=symmetric)
    q = MatMulNBitsQuantizer(onnx.load(os.path.join(LM, "model.onnx")), algo_config=cfg)
    q.process()
    onnx.save(q.model.model, out)
    return out


def qrecipe_export(symmetric, work):
    recipe = os.path.join(work, f"rtn-{'sym' if symmetric else 'asym'}.qrecipe")
    out = os.path.join(work, f"qrecipe-{'sym' if symmetric else 'asym'}.onnx")
    with open(recipe, "w") as f:
        f.write(f'model "{LM}/model.onnx"\n'
                f'quantize rtn {{ targets "MatMul"  bits 4  group 128  scheme {"symmetric" if symmetric else "asymmetric"} }}\n'
                f'export onnx-matmulnbits "{out}"\n')
    subprocess.run(["node", os.path.join(ROOT, "dist", "cli.js"), "run", recipe, "--runs", os.path.join(work, "runs")],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def old_symmetric(work):
    """The previous symmetric grid: scale 2·max|w|/15 per block of 128 input columns, zero 8."""
    m = onnx.load(os.path.join(LM, "model.onnx"))
    mm = {n.input[1] for n in m.graph.node if n.op_type == "MatMul"}
    for t in m.graph.initializer:
        if t.name not in mm:
            continue
        w = numpy_helper.to_array(t).astype(np.float32)  # [in, out]
        q = np.empty_like(w)
        for k in range(0, w.shape[0], 128):
            blk = w[k:k + 128]
            amax = np.abs(blk).max(axis=0)
            amax[amax == 0] = 1
            scale = (2 * amax / 15).astype(np.float32)
            q[k:k + 128] = scale * (np.clip(np.round(blk / scale) + 8, 0, 15) - 8)
        t.CopyFrom(numpy_helper.from_array(q.astype(np.float32), t.name))
    out = os.path.join(work, "old-symmetric-fakequant.onnx")
    onnx.save(m, out)
    return out


def main():
    windows = read_windows()
    work = tempfile.mkdtemp(prefix="ort-4bit-")
    rows = [
        ("original (float32)", os.path.join(LM, "model.onnx")),
        ("onnxruntime MatMulNBitsQuantizer default (4-bit, block 128, asymmetric)", ort_quantize(False, os.path.join(work, "ort-default.onnx"))),
        ("onnxruntime MatMulNBitsQuantizer is_symmetric=True (block 128)", ort_quantize(True, os.path.join(work, "ort-symmetric.onnx"))),
        ("QRecipe RTN 4-bit g128 symmetric (full signed range)", qrecipe_export(True, work)),
        ("QRecipe RTN 4-bit g128 asymmetric", qrecipe_export(False, work)),
        ("previous QRecipe symmetric grid (2·max|w|/15), fake-quant", old_symmetric(work)),
    ]
    out = []
    for label, path in rows:
        r = metrics(session(path), windows)
        r.update(label=label, bytes=os.path.getsize(path))
        out.append(r)
        print(f"{label:75s} perplexity {r['perplexity']:.5f}  {r['bytes']:>9,d} bytes", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
