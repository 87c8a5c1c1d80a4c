#pragma once
// Launchers of the elementwise kernels (kernels/elementwise.cu): converting copy, fill, unary
// ops and their gradients, binary ops, where. Each takes the output first, then the inputs,
// all described by one ElementwiseGeometry whose operand order is the same.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// ts::UnaryOp's values, in its order (cuda_elementwise.cpp static_asserts the match).
enum class UnaryKind : uint8_t {
  Neg, Abs, Sign, Exp, Log, Sqrt, Rsqrt, Reciprocal, Square, Sin, Cos,
  Tanh, Sigmoid, Relu, GeluTanh, GeluErf, Silu, PowScalar, Clamp, LogicalNot,
};

/// ts::BinaryOp's values, in its order.
enum class BinaryKind : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr,
};

/// ts::UnaryParams: the exponent of PowScalar (a), the bounds of Clamp (a, b).
struct UnaryArgs {
  double a = 0, b = 0;
  bool has_a = false, has_b = false;
};

/// The integer dtypes (i32, i64, u8) support these unary ops; float dtypes support all but
/// LogicalNot (which takes any dtype and writes Bool).
constexpr bool unary_supports_integers(UnaryKind op) {
  return op == UnaryKind::Neg || op == UnaryKind::Abs || op == UnaryKind::Sign || op == UnaryKind::Square ||
         op == UnaryKind::Relu || op == UnaryKind::Clamp;
}

/// Each gradient formula needs the op's input x or its result y (never both), so the backward
/// kernel reads one of them: true when it is y.
constexpr bool unary_backward_uses_result(UnaryKind op) {
  return op == UnaryKind::Exp || op == UnaryKind::Sqrt || op == UnaryKind::Rsqrt || op == UnaryKind::Reciprocal ||
         op == UnaryKind::Tanh || op == UnaryKind::Sigmoid;
}

/// Comparisons and logical ops write Bool.
constexpr bool binary_writes_bool(BinaryKind op) { return op >= BinaryKind::Eq; }

/// dst = convert(src); geometry operands {dst, src}.
cudaError_t copy(ScalarType dst_type, void* dst, ScalarType src_type, const void* src, const ElementwiseGeometry& g,
                 cudaStream_t stream);

/// Every element of out (geometry operands {out}) = value converted to `type`.
cudaError_t fill(ScalarType type, void* out, double value, const ElementwiseGeometry& g, cudaStream_t stream);

/// out = op(x); x and out share `type`, except LogicalNot, whose out is Bool. Float16 and
/// bfloat16 compute in float32. Ops not defined for `type` return cudaErrorInvalidValue (the
/// host side reports them first).
cudaError_t unary(UnaryKind op, const UnaryArgs& args, ScalarType type, void* out, const void* x,
                  const ElementwiseGeometry& g, cudaStream_t stream);

/// grad_in = grad_out * op'(x), all of the floating `type`; `v` is op's result y when
/// unary_backward_uses_result(op), else its input x. Geometry operands {grad_in, grad_out, v}.
cudaError_t unary_backward(UnaryKind op, const UnaryArgs& args, ScalarType type, void* grad_in, const void* grad_out,
                           const void* v, const ElementwiseGeometry& g, cudaStream_t stream);

/// out = a op b; a and b have `type`, out too unless binary_writes_bool(op). Bool supports
/// Add/Maximum (or), Mul/Minimum (and) and the Bool-writing ops. Integer Div by zero gives 0
/// (the op layer never divides integers: it promotes to float).
cudaError_t binary(BinaryKind op, ScalarType type, void* out, const void* a, const void* b,
                   const ElementwiseGeometry& g, cudaStream_t stream);

/// out = cond ? a : b; cond is Bool, a, b and out have `type`. Operands {out, cond, a, b}.
cudaError_t where(ScalarType type, void* out, const bool* cond, const void* a, const void* b,
                  const ElementwiseGeometry& g, cudaStream_t stream);

}  // namespace ts::kernels
