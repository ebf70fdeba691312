// Storage layouts for export: ONNX Runtime com.microsoft.MatMulNBits and int8 per-channel (QDQ).
#pragma once
#include <cstdint>

namespace qr {

/**
 * MatMulNBits packing of codes (N×K, N = rows = output features, K = cols, quantised along K):
 * B[N][nBlocks][blob] with blob = ⌈blockSize·bits/8⌉ and values as a little-endian bit stream
 * (low bits first), zeros [N][nBlocks] → zpPacked [N][⌈nBlocks·bits/8⌉] the same way.
 * K need not be a multiple of blockSize (the tail is padded with code 0). zeros/zpPacked may be null.
 */
void packNBits(const uint8_t* codes, int N, int K, int bits, int blockSize, const uint8_t* zeros, uint8_t* B,
               uint8_t* zpPacked);
void unpackNBits(const uint8_t* B, int N, int K, int bits, int blockSize, const uint8_t* zpPacked, uint8_t* codes,
                 uint8_t* zeros);

}  // namespace qr
