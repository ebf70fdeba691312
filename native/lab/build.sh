#!/bin/sh
# builds gemv4lab; prints registers and spills per kernel whose name matches $1 (default: all)
cd "$(dirname "$0")" && /usr/local/cuda/bin/nvcc -O3 -std=c++17 -arch=sm_90 -lineinfo -Xptxas -v -I../src --expt-relaxed-constexpr -o gemv4lab main.cu 2>&1 |
  awk -v pat="${1:-.}" '/error/ {print} /Compiling entry function/ {name=$0; sub(/.*function ./, "", name); sub(/. for .*/, "", name)} /spill stores/ {sp=$0; sub(/.*frame, /, "", sp)} /Used [0-9]+ registers/ {r=$0; sub(/.*Used /, "", r); sub(/ registers.*/, "", r); if (name ~ pat) printf "%-70s %s regs, %s\n", substr(name,1,70), r, sp}'
