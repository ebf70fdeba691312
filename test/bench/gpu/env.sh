# Sourced by the GPU calls: Node.js from /tmp/bin, pip's CUDA 13 cuBLAS/cuSOLVER for the addon, the Vulkan/GL loaders' ICDs.
export PATH=/tmp/bin:$PATH
SP=$(python3 -c 'import site;print(" ".join(site.getsitepackages()))')
export QRECIPE_CUBLAS=$(find $SP -name 'libcublas.so.*' 2>/dev/null | head -1)
export QRECIPE_CUSOLVER=$(find $SP -name 'libcusolver.so.*' 2>/dev/null | head -1)
[[ -n $QRECIPE_CUBLAS ]] && export LD_LIBRARY_PATH=$(dirname "$QRECIPE_CUBLAS"):${LD_LIBRARY_PATH:-}
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
