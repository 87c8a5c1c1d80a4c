// Elementwise kernels: converting copy, fill, unary ops and their gradients, binary ops and
// where. One grid-stride kernel template walks an ElementwiseGeometry for every one of them:
// dense operands move 16 bytes per access when all pointers are aligned for it; strided
// operands get their offsets from the linear index (32-bit index math when it fits). The op
// is a template argument for the floating types (the hot paths: activations, arithmetic) and
// a runtime switch for the rarer integer, bool and comparison kernels, which keeps the number
// of instantiations (and the build time) down.
#include "kernels/elementwise.h"

#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/common.cuh"

namespace ts::kernels {
namespace {

// ============================================================================================
// kernels
// ============================================================================================

/// `V` elements loaded or stored by one vector access.
template <typename T, int V> struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

/// Elements per vector access: 16 bytes of the widest operand.
template <typename... T> constexpr int vec_width() {
  size_t widest = 1;
  ((widest = sizeof(T) > widest ? sizeof(T) : widest), ...);
  return static_cast<int>(16 / widest);
}

template <typename T, int V> bool aligned_for_pack(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * V) == 0;
}
template <typename T, int V> __device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}
template <typename T, int V> __device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p) = v;
}

// The operand sets: out = f(inputs...). `at` takes each operand's element offset (output
// first); `pack` handles kVec consecutive elements of dense, aligned operands from index i.
template <typename Out, typename F> struct Map0 {
  static constexpr int kOperands = 1, kVec = vec_width<Out>();
  Out* out;
  F f;
  bool aligned() const { return aligned_for_pack<Out, kVec>(out); }
  __device__ void at(const int64_t* off) const { out[off[0]] = f(); }
  __device__ void pack(int64_t i) const {
    Pack<Out, kVec> o;
#pragma unroll
    for (int j = 0; j < kVec; ++j) o.v[j] = f();
    store_pack(out + i, o);
  }
};

template <typename Out, typename A, typename F> struct Map1 {
  static constexpr int kOperands = 2, kVec = vec_width<Out, A>();
  Out* out;
  const A* a;
  F f;
  bool aligned() const { return aligned_for_pack<Out, kVec>(out) && aligned_for_pack<A, kVec>(a); }
  __device__ void at(const int64_t* off) const { out[off[0]] = f(a[off[1]]); }
  __device__ void pack(int64_t i) const {
    const Pack<A, kVec> va = load_pack<A, kVec>(a + i);
    Pack<Out, kVec> o;
#pragma unroll
    for (int j = 0; j < kVec; ++j) o.v[j] = f(va.v[j]);
    store_pack(out + i, o);
  }
};

template <typename Out, typename A, typename B, typename F> struct Map2 {
  static constexpr int kOperands = 3, kVec = vec_width<Out, A, B>();
  Out* out;
  const A* a;
  const B* b;
  F f;
  bool aligned() const {
    return aligned_for_pack<Out, kVec>(out) && aligned_for_pack<A, kVec>(a) && aligned_for_pack<B, kVec>(b);
  }
  __device__ void at(const int64_t* off) const { out[off[0]] = f(a[off[1]], b[off[2]]); }
  __device__ void pack(int64_t i) const {
    const Pack<A, kVec> va = load_pack<A, kVec>(a + i);
    const Pack<B, kVec> vb = load_pack<B, kVec>(b + i);
    Pack<Out, kVec> o;
#pragma unroll
    for (int j = 0; j < kVec; ++j) o.v[j] = f(va.v[j], vb.v[j]);
    store_pack(out + i, o);
  }
};

template <typename Out, typename A, typename B, typename C, typename F> struct Map3 {
  static constexpr int kOperands = 4, kVec = vec_width<Out, A, B, C>();
  Out* out;
  const A* a;
  const B* b;
  const C* c;
  F f;
  bool aligned() const {
    return aligned_for_pack<Out, kVec>(out) && aligned_for_pack<A, kVec>(a) && aligned_for_pack<B, kVec>(b) &&
           aligned_for_pack<C, kVec>(c);
  }
  __device__ void at(const int64_t* off) const { out[off[0]] = f(a[off[1]], b[off[2]], c[off[3]]); }
  __device__ void pack(int64_t i) const {
    const Pack<A, kVec> va = load_pack<A, kVec>(a + i);
    const Pack<B, kVec> vb = load_pack<B, kVec>(b + i);
    const Pack<C, kVec> vc = load_pack<C, kVec>(c + i);
    Pack<Out, kVec> o;
#pragma unroll
    for (int j = 0; j < kVec; ++j) o.v[j] = f(va.v[j], vb.v[j], vc.v[j]);
    store_pack(out + i, o);
  }
};

/// Each operand's element offset for linear index `linear` (row-major over g.sizes), with the
/// divisions in the index type I (32-bit ones are several times cheaper).
template <typename I, int K>
__device__ __forceinline__ void strided_offsets(const ElementwiseGeometry& g, int64_t linear, int64_t (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
  I rem = static_cast<I>(linear);
  for (int d = g.ndim - 1; d >= 0; --d) {
    const I size = static_cast<I>(g.sizes[d]);
    const I q = rem / size;
    const int64_t idx = static_cast<int64_t>(rem - q * size);
    rem = q;
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += idx * g.strides[k][d];
  }
}

template <typename M>
__global__ void __launch_bounds__(kBlockSize) elementwise_kernel(const M m, const ElementwiseGeometry g,
                                                                  const bool vectorized) {
  constexpr int K = M::kOperands;
  const int64_t n = g.numel, start = global_thread_index(), step = grid_stride();
  int64_t off[K];
  if (vectorized) {
    constexpr int V = M::kVec;
    const int64_t packs = n / V;
    for (int64_t p = start; p < packs; p += step) m.pack(p * V);
    for (int64_t i = packs * V + start; i < n; i += step) {
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] = i;
      m.at(off);
    }
  } else if (g.contiguous) {
    for (int64_t i = start; i < n; i += step) {
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] = i;
      m.at(off);
    }
  } else if (g.ndim == 1) {
    for (int64_t i = start; i < n; i += step) {
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] = i * g.strides[k][0];
      m.at(off);
    }
  } else if (n <= std::numeric_limits<int32_t>::max()) {
    for (int64_t i = start; i < n; i += step) {
      strided_offsets<uint32_t>(g, i, off);
      m.at(off);
    }
  } else {
    for (int64_t i = start; i < n; i += step) {
      strided_offsets<int64_t>(g, i, off);
      m.at(off);
    }
  }
}

// ---- math in the compute type (float for 16-bit floats, as the CPU backend) ----------------

__device__ __forceinline__ float m_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double m_abs(double x) { return fabs(x); }
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_sin(float x) { return sinf(x); }
__device__ __forceinline__ double m_sin(double x) { return sin(x); }
__device__ __forceinline__ float m_cos(float x) { return cosf(x); }
__device__ __forceinline__ double m_cos(double x) { return cos(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_pow(float x, float e) { return powf(x, e); }
__device__ __forceinline__ double m_pow(double x, double e) { return pow(x, e); }
__device__ __forceinline__ float m_erfc(float x) { return erfcf(x); }
__device__ __forceinline__ double m_erfc(double x) { return erfc(x); }

template <typename A> __device__ __forceinline__ bool m_isnan(A x) { return x != x; }
template <typename A> __device__ __forceinline__ A m_nan() { return std::numeric_limits<A>::quiet_NaN(); }
template <typename A> __device__ __forceinline__ A sign_of(A x) { return static_cast<A>((x > A(0)) - (x < A(0))); }
template <typename A> __device__ __forceinline__ A sigmoid_of(A x) { return A(1) / (A(1) + m_exp(-x)); }
/// Phi(x) as erfc(-x / sqrt 2) / 2: 1 + erf(x / sqrt 2) would cancel to 0 for x < -8.
template <typename A> __device__ __forceinline__ A normal_cdf_of(A x) {
  return A(0.5) * m_erfc(-x * A(0.70710678118654752440));
}

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
constexpr double kGeluCoeff = 0.044715;

// ---- unary ----------------------------------------------------------------------------------

/// y = op(x) for floating T, in acc_t<T>; the formulas are cpu_elementwise.cpp's.
template <UnaryKind Op, typename T> struct UnaryFloatFn {
  using A = acc_t<T>;
  A a, b;
  bool has_a, has_b;
  __device__ T operator()(T xv) const {
    const A x = convert<A>(xv);
    return convert<T>(apply(x));
  }
  __device__ A apply(A x) const {
    if constexpr (Op == UnaryKind::Neg) {
      return -x;
    } else if constexpr (Op == UnaryKind::Abs) {
      return m_abs(x);
    } else if constexpr (Op == UnaryKind::Sign) {
      return sign_of(x);
    } else if constexpr (Op == UnaryKind::Exp) {
      return m_exp(x);
    } else if constexpr (Op == UnaryKind::Log) {
      return m_log(x);
    } else if constexpr (Op == UnaryKind::Sqrt) {
      return m_sqrt(x);
    } else if constexpr (Op == UnaryKind::Rsqrt) {
      return A(1) / m_sqrt(x);  // not rsqrt(): the CPU's 1/sqrt is correctly rounded
    } else if constexpr (Op == UnaryKind::Reciprocal) {
      return A(1) / x;
    } else if constexpr (Op == UnaryKind::Square) {
      return x * x;
    } else if constexpr (Op == UnaryKind::Sin) {
      return m_sin(x);
    } else if constexpr (Op == UnaryKind::Cos) {
      return m_cos(x);
    } else if constexpr (Op == UnaryKind::Tanh) {
      return m_tanh(x);
    } else if constexpr (Op == UnaryKind::Sigmoid) {
      return sigmoid_of(x);
    } else if constexpr (Op == UnaryKind::Relu) {
      return x > A(0) ? x : A(0);
    } else if constexpr (Op == UnaryKind::GeluTanh) {
      const A inner = static_cast<A>(kSqrt2OverPi) * (x + static_cast<A>(kGeluCoeff) * x * x * x);
      return A(0.5) * x * (A(1) + m_tanh(inner));
    } else if constexpr (Op == UnaryKind::GeluErf) {
      return x * normal_cdf_of(x);
    } else if constexpr (Op == UnaryKind::Silu) {
      return x / (A(1) + m_exp(-x));
    } else if constexpr (Op == UnaryKind::PowScalar) {
      return m_pow(x, a);
    } else {
      static_assert(Op == UnaryKind::Clamp);
      if (m_isnan(x)) return x;
      A y = x;
      if (has_a && y < a) y = a;
      if (has_b && y > b) y = b;
      return y;
    }
  }
};

/// The integer unary ops (unary_supports_integers); the op is a runtime value.
template <typename T> struct UnaryIntFn {
  UnaryKind op;
  double a, b;
  bool has_a, has_b;
  __device__ T operator()(T x) const {
    switch (op) {
      case UnaryKind::Neg: return static_cast<T>(-x);
      case UnaryKind::Abs:
        if constexpr (std::is_signed_v<T>) {
          return x < T(0) ? static_cast<T>(-x) : x;
        } else {
          return x;
        }
      case UnaryKind::Sign:
        if constexpr (std::is_signed_v<T>) {
          return static_cast<T>((x > T(0)) - (x < T(0)));
        } else {
          return static_cast<T>(x > T(0));
        }
      case UnaryKind::Square: return static_cast<T>(x * x);
      case UnaryKind::Relu: return x > T(0) ? x : T(0);
      case UnaryKind::Clamp: {
        T y = x;
        if (has_a && static_cast<double>(y) < a) y = static_cast<T>(a);
        if (has_b && static_cast<double>(y) > b) y = static_cast<T>(b);
        return y;
      }
      default: return x;
    }
  }
};

template <typename S> struct LogicalNotFn {
  __device__ bool operator()(S x) const { return !convert<bool>(x); }
};

/// grad_in = g * op'(x) from g and v (x, or y = op(x) when unary_backward_uses_result).
template <UnaryKind Op, typename T> struct UnaryGradFn {
  using A = acc_t<T>;
  A a, b;
  bool has_a, has_b;
  __device__ T operator()(T gv, T vv) const { return convert<T>(apply(convert<A>(gv), convert<A>(vv))); }
  __device__ A apply(A g, A v) const {
    if constexpr (Op == UnaryKind::Neg) {
      return -g;
    } else if constexpr (Op == UnaryKind::Abs) {
      return g * sign_of(v);
    } else if constexpr (Op == UnaryKind::Sign) {
      return A(0);
    } else if constexpr (Op == UnaryKind::Exp) {
      return g * v;
    } else if constexpr (Op == UnaryKind::Log) {
      return g / v;
    } else if constexpr (Op == UnaryKind::Sqrt) {
      return g / (A(2) * v);
    } else if constexpr (Op == UnaryKind::Rsqrt) {
      return g * A(-0.5) * v * v * v;
    } else if constexpr (Op == UnaryKind::Reciprocal) {
      return -g * v * v;
    } else if constexpr (Op == UnaryKind::Square) {
      return g * A(2) * v;
    } else if constexpr (Op == UnaryKind::Sin) {
      return g * m_cos(v);
    } else if constexpr (Op == UnaryKind::Cos) {
      return -g * m_sin(v);
    } else if constexpr (Op == UnaryKind::Tanh) {
      return g * (A(1) - v * v);
    } else if constexpr (Op == UnaryKind::Sigmoid) {
      return g * v * (A(1) - v);
    } else if constexpr (Op == UnaryKind::Relu) {
      return v > A(0) ? g : A(0);
    } else if constexpr (Op == UnaryKind::GeluTanh) {
      const A x2 = v * v;
      const A t = m_tanh(static_cast<A>(kSqrt2OverPi) * (v + static_cast<A>(kGeluCoeff) * x2 * v));
      const A dinner = static_cast<A>(kSqrt2OverPi) * (A(1) + A(3) * static_cast<A>(kGeluCoeff) * x2);
      return g * (A(0.5) * (A(1) + t) + A(0.5) * v * (A(1) - t * t) * dinner);
    } else if constexpr (Op == UnaryKind::GeluErf) {
      return g * (normal_cdf_of(v) + v * static_cast<A>(kInvSqrt2Pi) * m_exp(A(-0.5) * v * v));
    } else if constexpr (Op == UnaryKind::Silu) {
      const A s = sigmoid_of(v);
      return g * s * (A(1) + v * (A(1) - s));
    } else if constexpr (Op == UnaryKind::PowScalar) {
      return a == A(0) ? A(0) : g * a * m_pow(v, a - A(1));
    } else {
      static_assert(Op == UnaryKind::Clamp);
      const bool inside = (!has_a || v >= a) && (!has_b || v <= b);
      return inside ? g : A(0);
    }
  }
};

// ---- binary ---------------------------------------------------------------------------------

template <BinaryKind Op, typename T> struct BinaryFloatFn {
  using A = acc_t<T>;
  __device__ T operator()(T av, T bv) const { return convert<T>(apply(convert<A>(av), convert<A>(bv))); }
  __device__ A apply(A x, A y) const {
    if constexpr (Op == BinaryKind::Add) {
      return x + y;
    } else if constexpr (Op == BinaryKind::Sub) {
      return x - y;
    } else if constexpr (Op == BinaryKind::Mul) {
      return x * y;
    } else if constexpr (Op == BinaryKind::Div) {
      return x / y;
    } else if constexpr (Op == BinaryKind::Pow) {
      return m_pow(x, y);
    } else if constexpr (Op == BinaryKind::Maximum) {
      if (m_isnan(x) || m_isnan(y)) return m_nan<A>();
      return x > y ? x : y;
    } else {
      static_assert(Op == BinaryKind::Minimum);
      if (m_isnan(x) || m_isnan(y)) return m_nan<A>();
      return x < y ? x : y;
    }
  }
};

template <typename T> struct BinaryIntFn {
  BinaryKind op;
  __device__ T operator()(T x, T y) const {
    switch (op) {
      case BinaryKind::Add: return static_cast<T>(x + y);
      case BinaryKind::Sub: return static_cast<T>(x - y);
      case BinaryKind::Mul: return static_cast<T>(x * y);
      case BinaryKind::Div: return y == T(0) ? T(0) : static_cast<T>(x / y);  // no trap on the GPU
      case BinaryKind::Pow: return static_cast<T>(pow(static_cast<double>(x), static_cast<double>(y)));
      case BinaryKind::Maximum: return x > y ? x : y;
      case BinaryKind::Minimum: return x < y ? x : y;
      default: return x;
    }
  }
};

/// Bool arithmetic is logical, like PyTorch: Add/Maximum are "or", Mul/Minimum "and".
struct BoolArithFn {
  bool is_or;
  __device__ bool operator()(bool x, bool y) const { return is_or ? (x || y) : (x && y); }
};

/// Comparisons and logical ops (in float for 16-bit floats).
template <typename T> struct CompareFn {
  using A = acc_t<T>;
  BinaryKind op;
  __device__ bool operator()(T av, T bv) const {
    const A x = convert<A>(av), y = convert<A>(bv);
    switch (op) {
      case BinaryKind::Eq: return x == y;
      case BinaryKind::Ne: return x != y;
      case BinaryKind::Lt: return x < y;
      case BinaryKind::Le: return x <= y;
      case BinaryKind::Gt: return x > y;
      case BinaryKind::Ge: return x >= y;
      case BinaryKind::LogicalAnd: return x != A(0) && y != A(0);
      case BinaryKind::LogicalOr: return x != A(0) || y != A(0);
      default: return false;
    }
  }
};

// ---- copy, fill, where ------------------------------------------------------------------------

template <typename D, typename S> struct ConvertFn {
  __device__ D operator()(S x) const { return convert<D>(x); }
};

template <typename T> struct FillFn {
  double value;
  __device__ T operator()() const { return convert<T>(value); }
};

/// Same-type copies and where move raw bits: one kernel per element size.
template <typename U> struct IdentityFn {
  __device__ U operator()(U x) const { return x; }
};
template <typename U> struct WhereFn {
  __device__ U operator()(bool c, U x, U y) const { return c ? x : y; }
};

template <int Bytes> struct bits_of;
template <> struct bits_of<1> { using type = uint8_t; };
template <> struct bits_of<2> { using type = uint16_t; };
template <> struct bits_of<4> { using type = uint32_t; };
template <> struct bits_of<8> { using type = uint64_t; };
template <typename T> using bits_t = typename bits_of<sizeof(T)>::type;

// ============================================================================================
// launchers
// ============================================================================================

template <typename M> cudaError_t launch(const M& m, const ElementwiseGeometry& g, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  const bool vectorized = g.contiguous && m.aligned();
  const int64_t threads = vectorized ? (g.numel + M::kVec - 1) / M::kVec : g.numel;
  elementwise_kernel<M><<<grid_for(threads), kBlockSize, 0, stream>>>(m, g, vectorized);
  return cudaGetLastError();
}

template <auto... Ks> struct KindList {};

/// Calls f(std::integral_constant<E, K>{}) for the K of the list equal to `k`, turning a
/// runtime op into a template argument; cudaErrorInvalidValue when none matches.
template <auto... Ks, typename E, typename F> cudaError_t with_kind(KindList<Ks...>, E k, F&& f) {
  cudaError_t err = cudaErrorInvalidValue;
  (void)((k == Ks && ((err = f(std::integral_constant<E, Ks>{})), true)) || ...);
  return err;
}

using FloatUnaryKinds =
    KindList<UnaryKind::Neg, UnaryKind::Abs, UnaryKind::Sign, UnaryKind::Exp, UnaryKind::Log, UnaryKind::Sqrt,
             UnaryKind::Rsqrt, UnaryKind::Reciprocal, UnaryKind::Square, UnaryKind::Sin, UnaryKind::Cos,
             UnaryKind::Tanh, UnaryKind::Sigmoid, UnaryKind::Relu, UnaryKind::GeluTanh, UnaryKind::GeluErf,
             UnaryKind::Silu, UnaryKind::PowScalar, UnaryKind::Clamp>;
using FloatBinaryKinds = KindList<BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul, BinaryKind::Div, BinaryKind::Pow,
                                  BinaryKind::Maximum, BinaryKind::Minimum>;

template <typename T> constexpr bool is_float_v = std::is_floating_point_v<T> || is_half_v<T>;

// Converting copy into D, dispatching the source type here so the two dispatches do not nest.
template <typename D>
cudaError_t copy_into(D* dst, ScalarType src_type, const void* src, const ElementwiseGeometry& g, cudaStream_t stream) {
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(src_type, [&] {
    using S = scalar_t;
    err = launch(Map1<D, S, ConvertFn<D, S>>{dst, static_cast<const S*>(src), {}}, g, stream);
  });
  return err;
}

template <typename T>
cudaError_t unary_typed(UnaryKind op, const UnaryArgs& args, T* out, const T* x, const ElementwiseGeometry& g,
                        cudaStream_t stream) {
  if constexpr (is_float_v<T>) {
    using A = acc_t<T>;
    return with_kind(FloatUnaryKinds{}, op, [&](auto kind) {
      using Fn = UnaryFloatFn<decltype(kind)::value, T>;
      const Fn fn{static_cast<A>(args.a), static_cast<A>(args.b), args.has_a, args.has_b};
      return launch(Map1<T, T, Fn>{out, x, fn}, g, stream);
    });
  } else if constexpr (std::is_same_v<T, bool>) {
    return cudaErrorInvalidValue;
  } else {
    if (!unary_supports_integers(op)) return cudaErrorInvalidValue;
    const UnaryIntFn<T> fn{op, args.a, args.b, args.has_a, args.has_b};
    return launch(Map1<T, T, UnaryIntFn<T>>{out, x, fn}, g, stream);
  }
}

template <typename T>
cudaError_t binary_typed(BinaryKind op, void* out, const T* a, const T* b, const ElementwiseGeometry& g,
                         cudaStream_t stream) {
  if (binary_writes_bool(op))
    return launch(Map2<bool, T, T, CompareFn<T>>{static_cast<bool*>(out), a, b, {op}}, g, stream);
  T* o = static_cast<T*>(out);
  if constexpr (is_float_v<T>) {
    return with_kind(FloatBinaryKinds{}, op, [&](auto kind) {
      using Fn = BinaryFloatFn<decltype(kind)::value, T>;
      return launch(Map2<T, T, T, Fn>{o, a, b, {}}, g, stream);
    });
  } else if constexpr (std::is_same_v<T, bool>) {
    const bool is_or = op == BinaryKind::Add || op == BinaryKind::Maximum;
    const bool is_and = op == BinaryKind::Mul || op == BinaryKind::Minimum;
    if (!is_or && !is_and) return cudaErrorInvalidValue;
    return launch(Map2<bool, bool, bool, BoolArithFn>{o, a, b, {is_or}}, g, stream);
  } else {
    return launch(Map2<T, T, T, BinaryIntFn<T>>{o, a, b, {op}}, g, stream);
  }
}

}  // namespace

cudaError_t copy(ScalarType dst_type, void* dst, ScalarType src_type, const void* src, const ElementwiseGeometry& g,
                 cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  if (dst_type == src_type) {
    TS_KERNEL_DISPATCH_ALL(dst_type, [&] {
      using U = bits_t<scalar_t>;
      if (g.contiguous) {
        err = dst == src ? cudaSuccess
                         : cudaMemcpyAsync(dst, src, static_cast<size_t>(g.numel) * sizeof(U),
                                           cudaMemcpyDeviceToDevice, stream);
      } else {
        err = launch(Map1<U, U, IdentityFn<U>>{static_cast<U*>(dst), static_cast<const U*>(src), {}}, g, stream);
      }
    });
    return err;
  }
  TS_KERNEL_DISPATCH_ALL(dst_type, [&] { err = copy_into(static_cast<scalar_t*>(dst), src_type, src, g, stream); });
  return err;
}

cudaError_t fill(ScalarType type, void* out, double value, const ElementwiseGeometry& g, cudaStream_t stream) {
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    err = launch(Map0<scalar_t, FillFn<scalar_t>>{static_cast<scalar_t*>(out), {value}}, g, stream);
  });
  return err;
}

cudaError_t unary(UnaryKind op, const UnaryArgs& args, ScalarType type, void* out, const void* x,
                  const ElementwiseGeometry& g, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  if (op == UnaryKind::LogicalNot) {
    TS_KERNEL_DISPATCH_ALL(type, [&] {
      using S = scalar_t;
      err = launch(Map1<bool, S, LogicalNotFn<S>>{static_cast<bool*>(out), static_cast<const S*>(x), {}}, g, stream);
    });
    return err;
  }
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    err = unary_typed(op, args, static_cast<scalar_t*>(out), static_cast<const scalar_t*>(x), g, stream);
  });
  return err;
}

cudaError_t unary_backward(UnaryKind op, const UnaryArgs& args, ScalarType type, void* grad_in, const void* grad_out,
                           const void* v, const ElementwiseGeometry& g, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    using T = scalar_t;
    using A = acc_t<T>;
    err = with_kind(FloatUnaryKinds{}, op, [&](auto kind) {
      using Fn = UnaryGradFn<decltype(kind)::value, T>;
      const Fn fn{static_cast<A>(args.a), static_cast<A>(args.b), args.has_a, args.has_b};
      return launch(Map2<T, T, T, Fn>{static_cast<T*>(grad_in), static_cast<const T*>(grad_out),
                                      static_cast<const T*>(v), fn},
                    g, stream);
    });
  });
  return err;
}

cudaError_t binary(BinaryKind op, ScalarType type, void* out, const void* a, const void* b,
                   const ElementwiseGeometry& g, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    err = binary_typed(op, out, static_cast<const scalar_t*>(a), static_cast<const scalar_t*>(b), g, stream);
  });
  return err;
}

cudaError_t where(ScalarType type, void* out, const bool* cond, const void* a, const void* b,
                  const ElementwiseGeometry& g, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    using U = bits_t<scalar_t>;
    err = launch(Map3<U, bool, U, U, WhereFn<U>>{static_cast<U*>(out), cond, static_cast<const U*>(a),
                                                 static_cast<const U*>(b), {}},
                 g, stream);
  });
  return err;
}

}  // namespace ts::kernels
