#!/bin/bash
# Stages the GPU session of issue #17 (bench:scale --gpu on the addon's graph executor, the GPU
# tests, the graph benchmark) for the GPU machine, which has no Node.js, no npm and no network.
# A device call carries the working tree (~43 MB counted in 4 KiB blocks) plus the carried folders,
# 64 MiB in all, so the ~24 MB of Node.js travels in two halves over three calls:
#   .device/  node.xz.a (first half of this machine's Node.js, xz) and gpu.tar.xz (both addons,
#             out/gpu tests and benchmarks, out/bench/gen-llama.js)
#   .dev1/    node.xz.b (second half)
#   .dev2/    scale.tar.xz (the bundled CLI and bench:scale, the addon, onnxruntime-node's Linux
#             binary and JavaScript, the calibration and evaluation text)
#   .gl/      Debian's Vulkan and GL loaders (only for parts that fall back to onnxruntime's WebGPU)
# Then, with `run` (carry the folder named; each call within the 30 s idle window of the last):
#   1. carry [".device"]:        bash test/bench/gpu/call1.sh
#   2. carry [".dev1"]:          bash test/bench/gpu/call2.sh [BLOCKS]     (tests, graph bench, model generation)
#   3. carry [".dev2", ".gl"]:   bash test/bench/gpu/call3.sh [BLOCKS] [PROVIDER]   (starts bench:scale --gpu)
#   4. no carry, repeated:       bash test/bench/gpu/wait.sh [SECONDS]     (keeps the machine, brings the log back)
# Run from the repository root after `node native/build.mjs --bench --cuda-archs=sm_90` (nvcc here).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[[ -f native/build/Release/qrecipe.node && -f native/build/Release/qrecipe_bench.node ]] || { echo "build the addons first: node native/build.mjs --bench --cuda-archs=sm_90" >&2; exit 1; }
npm run build:ts > /dev/null
node test/bench/scale.mjs --bundle-only
node test/gpu/build.mjs
npx esbuild test/bench/gen-llama.ts --bundle --platform=node --outfile=out/bench/gen-llama.js --log-level=warning
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" .device .dev1 .dev2
for d in /.device/ /.dev1/ /.dev2/ /.gl/; do grep -qx "$d" "$exclude" 2>/dev/null || echo "$d" >> "$exclude"; done
node_bin=$(readlink -f "$(command -v node)")
if [[ ! -f .device/node.xz.a || $node_bin -nt .device/node.xz.a ]]; then
  xz -T2 -9e -c "$node_bin" > /tmp/qr-node.xz
  split -b 12000000 /tmp/qr-node.xz /tmp/qr-node.xz.
  mv /tmp/qr-node.xz.aa .device/node.xz.a && mv /tmp/qr-node.xz.ab .dev1/node.xz.b && rm -f /tmp/qr-node.xz
fi
tar -cJf .device/gpu.tar.xz native/build/Release/qrecipe.node native/build/Release/qrecipe_bench.node \
  native/build/Release/libgomp.so.1 out/gpu out/bench/native-bench.js out/bench/gen-llama.js
if ! ls .gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
ort=node_modules/onnxruntime-node
tar -cJf .dev2/scale.tar.xz --dereference \
  dist/cli.js out/bench/scale.js \
  native/build/Release/qrecipe.node native/build/Release/libgomp.so.1 \
  $ort/package.json $ort/dist $ort/bin/napi-v6/linux/x64 \
  node_modules/onnxruntime-common/package.json node_modules/onnxruntime-common/dist \
  test/fixtures/tiny-lm/data/calib.txt test/fixtures/tiny-lm/data/heldout.txt
tree=$(git ls-files -z | xargs -0 stat -c %s | awk '{b+=int(($1+4095)/4096)*4096} END {print b}')
for d in .device .dev1 ".dev2 .gl"; do
  # shellcheck disable=SC2086
  echo "call carrying $d: $(( (tree + $(du -cb $d | tail -1 | cut -f1)) / 1048576 )) MiB of 64"
done
