# GPU call 1 (carry .device): keep the first half of Node.js and the addon bundle in /tmp/stage.
mkdir -p /tmp/stage && cp .device/node.xz.a .device/gpu.tar.xz /tmp/stage/ && ls -la /tmp/stage
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; free -g | head -2; df -h /tmp | tail -1
