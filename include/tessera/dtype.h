#pragma once
/// Element types, the 16-bit float storage types and PyTorch's type-promotion rules.
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string_view>

namespace ts {

enum class DType : uint8_t { Float32, Float64, Float16, BFloat16, Int32, Int64, UInt8, Bool };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kDouble = DType::Float64;
inline constexpr DType kFloat16 = DType::Float16;
inline constexpr DType kHalf = DType::Float16;
inline constexpr DType kBFloat16 = DType::BFloat16;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kLong = DType::Int64;
inline constexpr DType kUInt8 = DType::UInt8;
inline constexpr DType kByte = DType::UInt8;
inline constexpr DType kBool = DType::Bool;

/// IEEE binary16, stored as bits; arithmetic goes through float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f) : bits(from_float(f)) {}  // NOLINT(google-explicit-constructor): mirrors at::Half
  operator float() const { return to_float(bits); }  // NOLINT
  static uint16_t from_float(float f);
  static float to_float(uint16_t h);
};

/// bfloat16 (the upper half of a float32), round-to-nearest-even on conversion.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) : bits(from_float(f)) {}  // NOLINT
  operator float() const {                    // NOLINT
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static uint16_t from_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
  }
};

size_t element_size(DType t);
std::string_view dtype_name(DType t);  ///< "float32", "int64", ... as PyTorch prints them
bool is_floating_point(DType t);
bool is_integral(DType t, bool include_bool = false);
/// PyTorch's promote_types: bool < integers < floats; f16 with bf16 gives f32.
DType promote_types(DType a, DType b);
/// Default dtype for floating results of integer inputs (like torch.get_default_dtype()).
inline constexpr DType kDefaultFloat = DType::Float32;
/// The float type an op computes in for input `t` (integers become the default float).
inline DType to_floating(DType t) { return is_floating_point(t) ? t : kDefaultFloat; }

std::ostream& operator<<(std::ostream& os, DType t);

/// Maps a C++ type to its DType.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <typename T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

}  // namespace ts

/// Calls `__VA_ARGS__` (a generic lambda body using `scalar_t`) for every dtype.
#define TS_DISPATCH_CASE(ENUM, TYPE, ...) \
  case ::ts::DType::ENUM: {               \
    using scalar_t = TYPE;                \
    return __VA_ARGS__();                 \
  }

#define TS_DISPATCH_ALL(DT, NAME, ...)                                              \
  [&] {                                                                             \
    switch (DT) {                                                                   \
      TS_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                \
      TS_DISPATCH_CASE(Float16, ::ts::Half, __VA_ARGS__)                            \
      TS_DISPATCH_CASE(BFloat16, ::ts::BFloat16, __VA_ARGS__)                       \
      TS_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(UInt8, uint8_t, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Bool, bool, __VA_ARGS__)                                     \
    }                                                                               \
    TS_ERROR("{}: unsupported dtype {}", NAME, ::ts::dtype_name(DT));               \
  }()

/// Compute dtypes of the CPU kernels: 16-bit floats are widened to float32 beforehand.
#define TS_DISPATCH_COMPUTE(DT, NAME, ...)                                          \
  [&] {                                                                             \
    switch (DT) {                                                                   \
      TS_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                \
      TS_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(UInt8, uint8_t, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Bool, bool, __VA_ARGS__)                                     \
      default: break;                                                               \
    }                                                                               \
    TS_ERROR("{}: unsupported dtype {}", NAME, ::ts::dtype_name(DT));               \
  }()

#define TS_DISPATCH_FLOATING(DT, NAME, ...)                                         \
  [&] {                                                                             \
    switch (DT) {                                                                   \
      TS_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                 \
      TS_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                \
      default: break;                                                               \
    }                                                                               \
    TS_ERROR("{}: expected a float32 or float64 tensor but got {}", NAME, ::ts::dtype_name(DT)); \
  }()
