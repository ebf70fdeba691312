# GPU call 3 (carry .dev2 and .gl): starts bench:scale --gpu (BLOCKS blocks of the Llama-7B shape,
# 128 x 2048 calibration tokens, KL on 8 windows) on PROVIDER (default native) in its own process
# session once call 2's model generation is done; wait.sh brings the log back.
set -x
blocks=${1:-32} provider=${2:-native}
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
source test/bench/gpu/env.sh; node --version
mkdir -p /tmp/q && tar -xJf .dev2/scale.tar.xz -C /tmp/q
( cd /tmp/q && setsid nohup bash -c "while [ ! -f out/bench/scale/llama-${blocks}x4096x11008/model.onnx.done ]; do sleep 2; done; date +%s > /tmp/q/start; node out/bench/scale.js --gpu --blocks=$blocks --provider=$provider --json=/tmp/q/scale.json > /tmp/q/scale.log 2>&1; echo \"exit \$?\" >> /tmp/q/scale.log; date +%s > /tmp/q/end" > /dev/null 2>&1 & )
sleep 20; cat /tmp/q/gen.log; tail -5 /tmp/q/scale.log 2>/dev/null
