// checksum.cpp — see checksum.h.
//
// The folding path works on the CRC's register as a 128-bit polynomial over GF(2), bits
// reflected as the CRC is: multiplying a 64-bit half by x^k mod P (a constant) carries it k
// bits further along the message, so four registers fold 64 bytes per step independently,
// are folded into one, and one 128-bit register is brought down to the 32-bit remainder by
// two more folds and a Barrett reduction. The constants are those powers of x modulo P (and
// Barrett's quotient), for P = 0x104C11DB7 in the reflected domain, as published by Intel
// ("Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", 2009).
#include "checksum.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace allocbench {

namespace {

// Slicing-by-16: sixteen table lookups per 16 bytes.
constexpr size_t kSlices = 16;
using Tables = std::array<std::array<uint32_t, 256>, kSlices>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t s = 1; s < kSlices; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}
constexpr Tables kTables = make_tables();

// The register (not inverted) after `length` more bytes.
uint32_t table_register(const unsigned char* p, size_t length, uint32_t reg) {
  const auto& t = kTables;
  for (; length >= kSlices; length -= kSlices, p += kSlices) {
    uint32_t w[4];
    std::memcpy(w, p, sizeof w);
    w[0] ^= reg;
    reg = 0;
    for (size_t word = 0; word < 4; ++word)
      for (size_t byte = 0; byte < 4; ++byte) reg ^= t[kSlices - 1 - 4 * word - byte][(w[word] >> (8 * byte)) & 0xFF];
  }
  for (; length > 0; --length, ++p) reg = (reg >> 8) ^ t[0][(reg ^ *p) & 0xFF];
  return reg;
}

#if defined(__x86_64__)

constexpr size_t kFoldBlock = 64;  // what the four registers take in per step

// x^k mod P, reflected, for the distances folded over: 4 x 128 bits, 128 bits, 64 bits.
alignas(16) constexpr uint64_t kFold512[2] = {0x0154442bd4, 0x01c6e41596};
alignas(16) constexpr uint64_t kFold128[2] = {0x01751997d0, 0x00ccaa009e};
alignas(16) constexpr uint64_t kFold64[2] = {0x0163cd6124, 0};
// Barrett reduction: P itself (reflected, with its x^32 term) and floor(x^64 / P), reflected.
alignas(16) constexpr uint64_t kBarrett[2] = {0x01db710641, 0x01f7011641};

// One 128-bit register folded forward by the distance of `k` and merged with `next`.
__attribute__((target("pclmul,sse4.1"))) inline __m128i fold(__m128i reg, __m128i k, __m128i next) {
  const __m128i low = _mm_clmulepi64_si128(reg, k, 0x00);
  const __m128i high = _mm_clmulepi64_si128(reg, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

// The register (not inverted) after `length` bytes, length a multiple of 16 and at least 64.
__attribute__((target("pclmul,sse4.1"))) uint32_t clmul_register(const unsigned char* p, size_t length,
                                                                  uint32_t reg) {
  auto load = [](const unsigned char* at) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at)); };
  __m128i r0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(reg)));
  __m128i r1 = load(p + 16), r2 = load(p + 32), r3 = load(p + 48);
  p += kFoldBlock;
  length -= kFoldBlock;
  const __m128i k512 = _mm_load_si128(reinterpret_cast<const __m128i*>(kFold512));
  for (; length >= kFoldBlock; p += kFoldBlock, length -= kFoldBlock) {
    r0 = fold(r0, k512, load(p));
    r1 = fold(r1, k512, load(p + 16));
    r2 = fold(r2, k512, load(p + 32));
    r3 = fold(r3, k512, load(p + 48));
  }
  const __m128i k128 = _mm_load_si128(reinterpret_cast<const __m128i*>(kFold128));
  __m128i r = fold(fold(fold(r0, k128, r1), k128, r2), k128, r3);
  for (; length >= 16; p += 16, length -= 16) r = fold(r, k128, load(p));

  // 128 bits to 64: the low half carried over the high one.
  const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
  r = _mm_xor_si128(_mm_srli_si128(r, 8), _mm_clmulepi64_si128(r, k128, 0x10));
  // 64 bits to 32 (and the 32 above them).
  const __m128i k64 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kFold64));
  r = _mm_xor_si128(_mm_srli_si128(r, 4), _mm_clmulepi64_si128(_mm_and_si128(r, low32), k64, 0x00));
  // Barrett: the quotient by P estimated with mu, multiplied back by P and taken off.
  const __m128i barrett = _mm_load_si128(reinterpret_cast<const __m128i*>(kBarrett));
  __m128i quotient = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(r, low32), barrett, 0x10), low32);
  r = _mm_xor_si128(r, _mm_clmulepi64_si128(quotient, barrett, 0x00));
  return static_cast<uint32_t>(_mm_extract_epi32(r, 1));
}

bool has_clmul() {
  __builtin_cpu_init();  // needed before main(): this runs as the module's static initialiser
  return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}
const bool kHasClmul = has_clmul();

#endif

}  // namespace

uint32_t crc32_by_table(const void* data, size_t length, uint32_t crc) {
  return ~table_register(static_cast<const unsigned char*>(data), length, ~crc);
}

bool crc32_uses_clmul() {
#if defined(__x86_64__)
  return kHasClmul;
#else
  return false;
#endif
}

uint32_t crc32(const void* data, size_t length, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t reg = ~crc;
#if defined(__x86_64__)
  if (length >= kFoldBlock && kHasClmul) {
    const size_t folded = length & ~size_t{15};
    reg = clmul_register(p, folded, reg);
    p += folded;
    length -= folded;
  }
#endif
  return ~table_register(p, length, reg);
}

}  // namespace allocbench
