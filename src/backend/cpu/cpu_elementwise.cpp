// CPU elementwise kernels: copy/cast, fill, unary (+ backward), binary, where.
#include <cmath>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace cpu {

Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = make_tensor(t.shape(), t.dtype(), t.device());
  cpu_backend().copy(t, c);
  return c;
}

Tensor widen_half(const Tensor& t) {
  if (!is_half_dtype(t)) return t;
  Tensor w = make_tensor(t.shape(), DType::Float32, t.device());
  cpu_backend().copy(t, w);
  return w;
}

Tensor float_scratch_for(const Tensor& out) {
  return is_half_dtype(out) ? make_tensor(out.shape(), DType::Float32, out.device()) : out;
}

void narrow_into(const Tensor& scratch, const Tensor& out) {
  if (!scratch.is_same(out)) cpu_backend().copy(scratch, out);
}

namespace {

// Applies a 1-input function elementwise: out = f(x). Contiguous runs get a plain loop the
// compiler vectorizes.
template <typename TIn, typename TOut, typename F>
void map1(const Tensor& x, const Tensor& out, F f) {
  strided_loop<2>(out.shape(), {&out, &x}, [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    auto* o = reinterpret_cast<TOut*>(p[0]);
    const auto* a = reinterpret_cast<const TIn*>(p[1]);
    if (s[0] == sizeof(TOut) && s[1] == sizeof(TIn)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TIn*>(p[1] + i * s[1]));
    }
  });
}

template <typename TA, typename TB, typename TOut, typename F>
void map2(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  strided_loop<3>(out.shape(), {&out, &a, &b}, [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
    auto* o = reinterpret_cast<TOut*>(p[0]);
    const auto* x = reinterpret_cast<const TA*>(p[1]);
    const auto* y = reinterpret_cast<const TB*>(p[2]);
    if (s[0] == sizeof(TOut) && s[1] == sizeof(TA) && s[2] == sizeof(TB)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(TOut) && s[1] == sizeof(TA) && s[2] == 0) {  // tensor op scalar
      const TB yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(TOut) && s[1] == 0 && s[2] == sizeof(TB)) {  // scalar op tensor
      const TA xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TOut*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const TA*>(p[1] + i * s[1]), *reinterpret_cast<const TB*>(p[2] + i * s[2]));
    }
  });
}

template <typename T, typename F>
void map3(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& out, F f) {
  strided_loop<4>(out.shape(), {&out, &a, &b, &c}, [&](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]),
                                                 *reinterpret_cast<const T*>(p[2] + i * s[2]),
                                                 *reinterpret_cast<const T*>(p[3] + i * s[3]));
    }
  });
}

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
constexpr double kGeluCoeff = 0.044715;

template <typename T> T sigmoid_of(T x) { return T(1) / (T(1) + std::exp(-x)); }

// y = op(x) for floating T.
template <typename T> T unary_float(UnaryOp op, const UnaryParams& p, T x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Sign: return static_cast<T>((x > T(0)) - (x < T(0)));
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Square: return x * x;
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return sigmoid_of(x);
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::GeluTanh: {
      const T inner = static_cast<T>(kSqrt2OverPi) * (x + static_cast<T>(kGeluCoeff) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(inner));
    }
    case UnaryOp::GeluErf: return x * normal_cdf_of(x);
    case UnaryOp::Silu: return x * sigmoid_of(x);
    case UnaryOp::PowScalar: return static_cast<T>(std::pow(x, static_cast<T>(p.a)));
    case UnaryOp::Clamp: {
      if (std::isnan(x)) return x;
      T y = x;
      if (p.has_a && y < static_cast<T>(p.a)) y = static_cast<T>(p.a);
      if (p.has_b && y > static_cast<T>(p.b)) y = static_cast<T>(p.b);
      return y;
    }
    case UnaryOp::LogicalNot: break;
  }
  return x;
}

// dy/dx * g for floating T, given x and y = op(x).
template <typename T> T unary_grad_float(UnaryOp op, const UnaryParams& p, T g, T x, T y) {
  switch (op) {
    case UnaryOp::Neg: return -g;
    case UnaryOp::Abs: return g * static_cast<T>((x > T(0)) - (x < T(0)));
    case UnaryOp::Sign: return T(0);
    case UnaryOp::Exp: return g * y;
    case UnaryOp::Log: return g / x;
    case UnaryOp::Sqrt: return g / (T(2) * y);
    case UnaryOp::Rsqrt: return g * T(-0.5) * y * y * y;
    case UnaryOp::Reciprocal: return -g * y * y;
    case UnaryOp::Square: return g * T(2) * x;
    case UnaryOp::Sin: return g * std::cos(x);
    case UnaryOp::Cos: return -g * std::sin(x);
    case UnaryOp::Tanh: return g * (T(1) - y * y);
    case UnaryOp::Sigmoid: return g * y * (T(1) - y);
    case UnaryOp::Relu: return x > T(0) ? g : T(0);
    case UnaryOp::GeluTanh: {
      const T x2 = x * x;
      const T t = std::tanh(static_cast<T>(kSqrt2OverPi) * (x + static_cast<T>(kGeluCoeff) * x2 * x));
      const T dinner = static_cast<T>(kSqrt2OverPi) * (T(1) + T(3) * static_cast<T>(kGeluCoeff) * x2);
      return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner);
    }
    case UnaryOp::GeluErf: return g * (normal_cdf_of(x) + x * static_cast<T>(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x));
    case UnaryOp::Silu: {
      const T s = sigmoid_of(x);
      return g * s * (T(1) + x * (T(1) - s));
    }
    case UnaryOp::PowScalar: {
      const T e = static_cast<T>(p.a);
      return e == T(0) ? T(0) : g * e * static_cast<T>(std::pow(x, e - T(1)));
    }
    case UnaryOp::Clamp: {
      const bool inside = (!p.has_a || x >= static_cast<T>(p.a)) && (!p.has_b || x <= static_cast<T>(p.b));
      return inside ? g : T(0);
    }
    case UnaryOp::LogicalNot: break;
  }
  return T(0);
}

// The integer ops (the op layer converts integers to float for the others).
template <typename T> T unary_int(UnaryOp op, const UnaryParams& p, T x) {
  switch (op) {
    case UnaryOp::Neg: return static_cast<T>(-x);
    case UnaryOp::Abs: return x < T(0) ? static_cast<T>(-x) : x;
    case UnaryOp::Sign: return static_cast<T>((x > T(0)) - (x < T(0)));
    case UnaryOp::Square: return static_cast<T>(x * x);
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Clamp: {
      T y = x;
      if (p.has_a && static_cast<double>(y) < p.a) y = static_cast<T>(p.a);
      if (p.has_b && static_cast<double>(y) > p.b) y = static_cast<T>(p.b);
      return y;
    }
    default: break;
  }
  TS_ERROR("unary: operation {} is not defined for integer tensors", static_cast<int>(op));
}

template <typename T> T binary_arith(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return static_cast<T>(a + b);
    case BinaryOp::Sub: return static_cast<T>(a - b);
    case BinaryOp::Mul: return static_cast<T>(a * b);
    case BinaryOp::Div: return static_cast<T>(a / b);
    case BinaryOp::Pow: return static_cast<T>(std::pow(a, b));
    case BinaryOp::Maximum:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
      }
      return a > b ? a : b;
    case BinaryOp::Minimum:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
      }
      return a < b ? a : b;
    default: break;
  }
  return a;
}

template <typename T> bool binary_compare(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return a != T(0) && b != T(0);
    case BinaryOp::LogicalOr: return a != T(0) || b != T(0);
    default: break;
  }
  return false;
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

// Dispatches the arithmetic op once, so the inner loop is a fixed lambda the compiler vectorizes.
template <typename T> void binary_arith_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::Add: return map2<T, T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x + y); });
    case BinaryOp::Sub: return map2<T, T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x - y); });
    case BinaryOp::Mul: return map2<T, T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x * y); });
    case BinaryOp::Div:
      if constexpr (std::is_integral_v<T>) {
        // integer division by zero is undefined in C++; PyTorch raises too
        return map2<T, T, T>(a, b, out, [](T x, T y) {
          TS_CHECK(y != T(0), "div: integer division by zero");
          return static_cast<T>(x / y);
        });
      } else {
        return map2<T, T, T>(a, b, out, [](T x, T y) { return x / y; });
      }
    default: return map2<T, T, T>(a, b, out, [op](T x, T y) { return binary_arith(op, x, y); });
  }
}

template <typename T> void binary_arith_kernel(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if constexpr (std::is_same_v<T, bool>) {  // bool arithmetic is logical, like PyTorch
    if (op == BinaryOp::Add || op == BinaryOp::Maximum) return map2<T, T, T>(a, b, out, [](T x, T y) { return x || y; });
    if (op == BinaryOp::Mul || op == BinaryOp::Minimum) return map2<T, T, T>(a, b, out, [](T x, T y) { return x && y; });
    TS_ERROR("binary: operation {} is not defined for bool tensors", static_cast<int>(op));
  } else {
    binary_arith_typed<T>(op, a, b, out);
  }
}

// A function template (not the dispatch lambda) so `if constexpr` discards the branches
// that do not apply to T.
template <typename T> void unary_kernel(UnaryOp op, const UnaryParams& p, const Tensor& x, const Tensor& o) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {  // the hot activations get their own loops so they inline and vectorize
      case UnaryOp::Exp: return map1<T, T>(x, o, [](T v) { return exp_of(v); });
      case UnaryOp::Sigmoid: return map1<T, T>(x, o, [](T v) { return T(1) / (T(1) + exp_of(-v)); });
      case UnaryOp::Silu: return map1<T, T>(x, o, [](T v) { return v / (T(1) + exp_of(-v)); });
      case UnaryOp::Relu: return map1<T, T>(x, o, [](T v) { return v > T(0) ? v : T(0); });
      case UnaryOp::GeluErf: return map1<T, T>(x, o, [](T v) { return v * normal_cdf_of(v); });
      case UnaryOp::Neg: return map1<T, T>(x, o, [](T v) { return -v; });
      default: return map1<T, T>(x, o, [op, &p](T v) { return unary_float(op, p, v); });
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    TS_ERROR("unary: operation {} is not defined for bool tensors", static_cast<int>(op));
  } else {
    map1<T, T>(x, o, [op, &p](T v) { return unary_int(op, p, v); });
  }
}

// The backward of the hot activations gets fixed loops (the op switch hoisted out of the
// element loop) so they vectorize; the rest share the generic formula.
template <typename T>
void unary_backward_kernel(UnaryOp op, const UnaryParams& p, const Tensor& g, const Tensor& x, const Tensor& y,
                           const Tensor& o) {
  switch (op) {
    case UnaryOp::Relu: return map2<T, T, T>(g, x, o, [](T gv, T xv) { return xv > T(0) ? gv : T(0); });
    case UnaryOp::Tanh: return map2<T, T, T>(g, y, o, [](T gv, T yv) { return gv * (T(1) - yv * yv); });
    case UnaryOp::Sigmoid: return map2<T, T, T>(g, y, o, [](T gv, T yv) { return gv * yv * (T(1) - yv); });
    case UnaryOp::Exp: return map2<T, T, T>(g, y, o, [](T gv, T yv) { return gv * yv; });
    case UnaryOp::GeluErf:
      return map2<T, T, T>(g, x, o, [](T gv, T xv) {
        return gv * (normal_cdf_of(xv) + xv * static_cast<T>(kInvSqrt2Pi) * exp_of(T(-0.5) * xv * xv));
      });
    default:
      return map3<T>(g, x, y, o, [op, &p](T gv, T xv, T yv) { return unary_grad_float(op, p, gv, xv, yv); });
  }
}

// Converting copy into a destination of type D (the source dtype is dispatched here, so the
// two dispatches do not nest in one scope).
template <typename D> void copy_to(const Tensor& src, const Tensor& dst) {
  TS_DISPATCH_ALL(src.dtype(), "copy", [&] { map1<scalar_t, D>(src, dst, [](scalar_t v) { return convert<D>(v); }); });
}

}  // namespace
}  // namespace cpu

using namespace cpu;

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  TS_CHECK(src.shape() == dst.shape(), "copy: source shape {} differs from destination shape {}",
           shape_str(src.shape()), shape_str(dst.shape()));
  TS_DISPATCH_ALL(dst.dtype(), "copy", [&] { copy_to<scalar_t>(src, dst); });
}

void CpuBackend::fill(const Tensor& out, double value) {
  TS_DISPATCH_ALL(out.dtype(), "fill", [&] {
    const scalar_t v = convert<scalar_t>(value);
    strided_loop<1>(out.shape(), {&out}, [&](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
    });
  });
}

void CpuBackend::unary(UnaryOp op, const UnaryParams& p, const Tensor& x_in, const Tensor& out) {
  if (op == UnaryOp::LogicalNot) {
    TS_DISPATCH_ALL(x_in.dtype(), "logical_not", [&] {
      map1<scalar_t, bool>(x_in, out, [](scalar_t v) { return !convert<bool>(v); });
    });
    return;
  }
  const Tensor x = widen_half(x_in);
  const Tensor o = float_scratch_for(out);
  TS_DISPATCH_COMPUTE(x.dtype(), "unary", [&] { unary_kernel<scalar_t>(op, p, x, o); });
  narrow_into(o, out);
}

void CpuBackend::unary_backward(UnaryOp op, const UnaryParams& p, const Tensor& grad_out, const Tensor& x_in,
                                const Tensor& result_in, const Tensor& grad_in) {
  const Tensor g = widen_half(grad_out);
  const Tensor x = widen_half(x_in);
  const Tensor y = widen_half(result_in);
  const Tensor o = float_scratch_for(grad_in);
  TS_DISPATCH_FLOATING(g.dtype(), "unary_backward", [&] { unary_backward_kernel<scalar_t>(op, p, g, x, y, o); });
  narrow_into(o, grad_in);
}

void CpuBackend::binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  const Tensor a = widen_half(a_in);
  const Tensor b = widen_half(b_in);
  if (is_comparison(op)) {
    TS_DISPATCH_COMPUTE(a.dtype(), "binary", [&] {
      using T = scalar_t;
      map2<T, T, bool>(a, b, out, [op](T x, T y) { return binary_compare(op, x, y); });
    });
    return;
  }
  const Tensor o = float_scratch_for(out);
  TS_DISPATCH_COMPUTE(a.dtype(), "binary", [&] { binary_arith_kernel<scalar_t>(op, a, b, o); });
  narrow_into(o, out);
}

void CpuBackend::where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  const Tensor a = widen_half(a_in);
  const Tensor b = widen_half(b_in);
  const Tensor o = float_scratch_for(out);
  TS_DISPATCH_COMPUTE(a.dtype(), "where", [&] {
    using T = scalar_t;
    strided_loop<4>(o.shape(), {&o, &cond, &a, &b}, [&](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const bool c = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
        *reinterpret_cast<T*>(p[0] + i * s[0]) = c ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                   : *reinterpret_cast<const T*>(p[3] + i * s[3]);
      }
    });
  });
  narrow_into(o, out);
}

}  // namespace ts
