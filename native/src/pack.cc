// Bit-stream packing for MatMulNBits: value i of a blob occupies bits [i·bits, (i+1)·bits).
#include "pack.h"

#include <cstring>

namespace qr {

namespace {
void putBits(uint8_t* dst, int64_t i, int bits, uint32_t v) {
  const int64_t bit = i * bits;
  for (int b = 0; b < bits; b++) {
    const int64_t at = bit + b;
    if ((v >> b) & 1u) dst[at >> 3] |= uint8_t(1u << (at & 7));
  }
}
uint32_t getBits(const uint8_t* src, int64_t i, int bits) {
  const int64_t bit = i * bits;
  uint32_t v = 0;
  for (int b = 0; b < bits; b++) {
    const int64_t at = bit + b;
    v |= uint32_t((src[at >> 3] >> (at & 7)) & 1u) << b;
  }
  return v;
}
}  // namespace

void packNBits(const uint8_t* codes, int N, int K, int bits, int blockSize, const uint8_t* zeros, uint8_t* B,
               uint8_t* zpPacked) {
  const int nb = (K + blockSize - 1) / blockSize;
  const int blob = (blockSize * bits + 7) / 8;
  const int zpRow = (nb * bits + 7) / 8;
  std::memset(B, 0, size_t(N) * nb * blob);
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    for (int k = 0; k < K; k++) {
      uint8_t* blobPtr = B + (size_t(n) * nb + k / blockSize) * blob;
      putBits(blobPtr, k % blockSize, bits, codes[size_t(n) * K + k]);
    }
  }
  if (zeros && zpPacked) {
    std::memset(zpPacked, 0, size_t(N) * zpRow);
    for (int n = 0; n < N; n++)
      for (int b = 0; b < nb; b++) putBits(zpPacked + size_t(n) * zpRow, b, bits, zeros[size_t(n) * nb + b]);
  }
}

void unpackNBits(const uint8_t* B, int N, int K, int bits, int blockSize, const uint8_t* zpPacked, uint8_t* codes,
                 uint8_t* zeros) {
  const int nb = (K + blockSize - 1) / blockSize;
  const int blob = (blockSize * bits + 7) / 8;
  const int zpRow = (nb * bits + 7) / 8;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++)
      codes[size_t(n) * K + k] = uint8_t(getBits(B + (size_t(n) * nb + k / blockSize) * blob, k % blockSize, bits));
  if (zpPacked && zeros)
    for (int n = 0; n < N; n++)
      for (int b = 0; b < nb; b++) zeros[size_t(n) * nb + b] = uint8_t(getBits(zpPacked + size_t(n) * zpRow, b, bits));
}

}  // namespace qr
