# GPU call 2 (carry .dev1): Node.js, the GPU tests and the graph benchmark; the Llama-shaped model of
# BLOCKS blocks (default 32) is generated in the background meanwhile, where bench:scale looks for it.
set -x
blocks=${1:-32}
cat /tmp/stage/node.xz.a .dev1/node.xz.b > /tmp/stage/node.xz && mkdir -p /tmp/bin && xz -dc /tmp/stage/node.xz > /tmp/bin/node && chmod +x /tmp/bin/node
source test/bench/gpu/env.sh; node --version; echo "cuBLAS: ${QRECIPE_CUBLAS:-none}"
tar -xJf /tmp/stage/gpu.tar.xz
dir=/tmp/q/out/bench/scale/llama-${blocks}x4096x11008
mkdir -p "$dir"
( setsid nohup bash -c "node $PWD/out/bench/gen-llama.js $dir/model.onnx $blocks > /tmp/q/gen.log 2>&1" > /dev/null 2>&1 & )
timeout 240 node --test --test-reporter=spec out/gpu/ > "$OUT/gpu-tests.log" 2>&1; echo "gpu tests rc $?" >> "$OUT/gpu-tests.log"
grep -E "^ℹ (tests|pass|fail|skipped)|^✖|rc " "$OUT/gpu-tests.log" | head -30
timeout 150 node out/gpu/graph-bench.js --no-cpu > "$OUT/graph-bench.log" 2>&1; echo "bench rc $?" >> "$OUT/graph-bench.log"
cat "$OUT/graph-bench.log"; cat /tmp/q/gen.log
