// Marks a small function that the CPU code (g++) and the CUDA kernels (nvcc) share, so a twin
// computes the same way on both devices.
#pragma once

#ifdef __CUDACC__
#define QR_HOST_DEVICE __host__ __device__
#else
#define QR_HOST_DEVICE
#endif
