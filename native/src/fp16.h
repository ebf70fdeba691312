// IEEE half precision conversions (round to nearest even), for the fp16 outlier values.
#pragma once
#include <cstdint>
#include <cstring>

namespace qr {

inline uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return uint16_t(sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u));  // NaN / Inf
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to ≥ 65520 → Inf
  if (absx < 0x38800000u) {  // subnormal half (or zero): value = m · 2^-24
    if (absx < 0x33000000u) return uint16_t(sign);  // below half of the smallest subnormal
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // m·2^(e-150) / 2^-24 = m >> (126-e)
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return uint16_t(sign | h);
  }
  uint32_t h = ((absx >> 13) - (112u << 10));  // rebias exponent 127 → 15
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
  return uint16_t(sign | h);
}

inline float halfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
  if (e == 0) {
    if (m == 0) x = sign;
    else {  // normalise the subnormal
      e = 113;
      while (!(m & 0x400u)) { m <<= 1; e--; }
      x = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (e == 31) x = sign | 0x7f800000u | (m << 13);
  else x = sign | ((e + 112) << 23) | (m << 13);
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace qr
