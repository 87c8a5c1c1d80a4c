#pragma once
// Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3"): a counter-based
// generator, so element i of a random op depends only on (seed, offset + i) and never on which
// thread computes it. Header-only so CPU kernels inline it.
#include <array>
#include <cmath>
#include <cstdint>

namespace ts::detail {

inline std::array<uint32_t, 4> philox4x32(uint64_t counter_lo, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

/// U[0,1) with 24 bits, from one 32-bit word.
inline float uint_to_unit_float(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }
/// U[0,1) with 53 bits, from two words.
inline double uints_to_unit_double(uint32_t a, uint32_t b) {
  const uint64_t v = (static_cast<uint64_t>(a) << 21) ^ (b >> 11);
  return static_cast<double>(v & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/// Uniform double in [0,1) for element `i` of a stream.
inline double philox_uniform(uint64_t seed, uint64_t index) {
  auto r = philox4x32(index, seed);
  return uints_to_unit_double(r[0], r[1]);
}

/// Standard normal for element `i` (Box-Muller on one counter's words).
inline double philox_normal(uint64_t seed, uint64_t index) {
  auto r = philox4x32(index, seed);
  double u1 = uints_to_unit_double(r[0], r[1]);
  const double u2 = uints_to_unit_double(r[2], r[3]);
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace ts::detail
