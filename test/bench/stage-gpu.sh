#!/bin/bash
# Stages `bench:scale --gpu` for the GPU machine, which has Node.js only as staged here and no npm:
# .device/node.xz (this machine's Node.js, ../shared/device/stage-node.sh), .device/scale.tar.xz
# (the bundled CLI and bench, the addon as built here (CUDA), onnxruntime-node's Linux binary and
# JavaScript, the calibration/evaluation text) and .gl/ (the Vulkan and GL loaders onnxruntime's
# WebGPU provider needs there, from Debian). About 45 MB; carry ".device" and ".gl".
# Run from the repository root after `npm run build:native` (with nvcc present, for CUDA).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[[ -f native/build/Release/qrecipe.node ]] || { echo "build the addon first: npm run build:native" >&2; exit 1; }
node test/bench/scale.mjs --bundle-only
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" .device
for d in /.device/ /.gl/; do grep -qx "$d" "$exclude" 2>/dev/null || echo "$d" >> "$exclude"; done
# This machine's Node.js, as ../shared/device/stage-node.sh stages it (that script assumes a plain checkout, not a worktree).
node_bin=$(readlink -f "$(command -v node)")
[[ -f .device/node.xz && .device/node.xz -nt $node_bin ]] || xz -T2 -6 -c "$node_bin" > .device/node.xz
cat > .device/node-env.sh <<'ENV'
mkdir -p /tmp/bin
[[ -x /tmp/bin/node ]] || { xz -dc .device/node.xz > /tmp/bin/node && chmod +x /tmp/bin/node; }
export PATH=/tmp/bin:$PATH
node --version
ENV
if ! ls .gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
ort=node_modules/onnxruntime-node
tar -cJf .device/scale.tar.xz --dereference \
  dist/cli.js out/bench/scale.js \
  native/build/Release/qrecipe.node native/build/Release/libgomp.so.1 \
  $ort/package.json $ort/dist $ort/bin/napi-v6/linux/x64 \
  node_modules/onnxruntime-common/package.json node_modules/onnxruntime-common/dist \
  test/fixtures/tiny-lm/data/calib.txt test/fixtures/tiny-lm/data/heldout.txt
du -ch .device/node.xz .device/scale.tar.xz .gl | tail -1
cat <<'HOW'
On the GPU machine (carry ".device" and ".gl"):
  source .device/node-env.sh && for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig;
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json;
  mkdir -p /tmp/q && tar -xJf .device/scale.tar.xz -C /tmp/q && cd /tmp/q && node out/bench/scale.js --gpu --json=$OUT/scale.json
HOW
