// CudaBackend's elementwise entry points: the CPU backend's argument rules (dtypes each op
// takes and writes), then one launch of kernels/elementwise.cu on the device's current stream.
#include <iterator>
#include <utility>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/elementwise.h"

namespace ts {
namespace {

using cuda_detail::scalar_type;
using kernels::BinaryKind;
using kernels::UnaryKind;

constexpr std::pair<UnaryOp, UnaryKind> kUnaryKinds[] = {
    {UnaryOp::Neg, UnaryKind::Neg},           {UnaryOp::Abs, UnaryKind::Abs},
    {UnaryOp::Sign, UnaryKind::Sign},         {UnaryOp::Exp, UnaryKind::Exp},
    {UnaryOp::Log, UnaryKind::Log},           {UnaryOp::Sqrt, UnaryKind::Sqrt},
    {UnaryOp::Rsqrt, UnaryKind::Rsqrt},       {UnaryOp::Reciprocal, UnaryKind::Reciprocal},
    {UnaryOp::Square, UnaryKind::Square},     {UnaryOp::Sin, UnaryKind::Sin},
    {UnaryOp::Cos, UnaryKind::Cos},           {UnaryOp::Tanh, UnaryKind::Tanh},
    {UnaryOp::Sigmoid, UnaryKind::Sigmoid},   {UnaryOp::Relu, UnaryKind::Relu},
    {UnaryOp::GeluTanh, UnaryKind::GeluTanh}, {UnaryOp::GeluErf, UnaryKind::GeluErf},
    {UnaryOp::Silu, UnaryKind::Silu},         {UnaryOp::PowScalar, UnaryKind::PowScalar},
    {UnaryOp::Clamp, UnaryKind::Clamp},       {UnaryOp::LogicalNot, UnaryKind::LogicalNot},
};
constexpr std::pair<BinaryOp, BinaryKind> kBinaryKinds[] = {
    {BinaryOp::Add, BinaryKind::Add},
    {BinaryOp::Sub, BinaryKind::Sub},
    {BinaryOp::Mul, BinaryKind::Mul},
    {BinaryOp::Div, BinaryKind::Div},
    {BinaryOp::Pow, BinaryKind::Pow},
    {BinaryOp::Maximum, BinaryKind::Maximum},
    {BinaryOp::Minimum, BinaryKind::Minimum},
    {BinaryOp::Eq, BinaryKind::Eq},
    {BinaryOp::Ne, BinaryKind::Ne},
    {BinaryOp::Lt, BinaryKind::Lt},
    {BinaryOp::Le, BinaryKind::Le},
    {BinaryOp::Gt, BinaryKind::Gt},
    {BinaryOp::Ge, BinaryKind::Ge},
    {BinaryOp::LogicalAnd, BinaryKind::LogicalAnd},
    {BinaryOp::LogicalOr, BinaryKind::LogicalOr},
};
// The kernels take the ops as their own enums (no framework types): same values, same order.
template <typename Pairs> constexpr bool same_values(const Pairs& pairs) {
  int i = 0;
  for (const auto& [op, kind] : pairs) {
    if (static_cast<int>(op) != i || static_cast<int>(kind) != i) return false;
    ++i;
  }
  return true;
}
static_assert(same_values(kUnaryKinds) && same_values(kBinaryKinds));

UnaryKind unary_kind(UnaryOp op) { return static_cast<UnaryKind>(op); }
BinaryKind binary_kind(BinaryOp op) { return static_cast<BinaryKind>(op); }

const char* unary_name(UnaryOp op) {
  static constexpr const char* kNames[] = {"neg",   "abs",     "sign", "exp",       "log",       "sqrt",     "rsqrt",
                                           "reciprocal", "square", "sin", "cos",   "tanh",      "sigmoid",  "relu",
                                           "gelu_tanh", "gelu", "silu", "pow", "clamp", "logical_not"};
  static_assert(std::size(kNames) == std::size(kUnaryKinds));
  return kNames[static_cast<size_t>(op)];
}

const char* binary_name(BinaryOp op) {
  static constexpr const char* kNames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq",
                                           "ne",  "lt",  "le",  "gt",  "ge",  "logical_and", "logical_or"};
  static_assert(std::size(kNames) == std::size(kBinaryKinds));
  return kNames[static_cast<size_t>(op)];
}

bool is_integer(DType t) { return t == DType::Int32 || t == DType::Int64 || t == DType::UInt8; }

kernels::UnaryArgs unary_args(const UnaryParams& p) { return {p.a, p.b, p.has_a, p.has_b}; }

}  // namespace

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  TS_CHECK(src.shape() == dst.shape(), "copy: source shape {} differs from destination shape {}",
           shape_str(src.shape()), shape_str(dst.shape()));
  const int dev = cuda_detail::common_device("copy", {&src, &dst});
  if (dst.numel() == 0) return;
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry("copy", {&dst, &src});
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::copy(scalar_type(dst.dtype()), dst.raw_data(), scalar_type(src.dtype()), src.raw_data(), g,
                              cuda_detail::current_stream(dev)),
                "copy");
}

void CudaBackend::fill(const Tensor& out, double value) {
  const int dev = cuda_detail::common_device("fill", {&out});
  if (out.numel() == 0) return;
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry("fill", {&out});
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::fill(scalar_type(out.dtype()), out.raw_data(), value, g, cuda_detail::current_stream(dev)),
                "fill");
}

void CudaBackend::unary(UnaryOp op, const UnaryParams& p, const Tensor& x, const Tensor& out) {
  const char* name = unary_name(op);
  const int dev = cuda_detail::common_device(name, {&x, &out});
  if (op == UnaryOp::LogicalNot) {
    TS_CHECK(out.dtype() == DType::Bool, "logical_not: the output must be bool, got {}", dtype_name(out.dtype()));
  } else {
    TS_CHECK(out.dtype() == x.dtype(), "{}: input dtype {} differs from output dtype {}", name, dtype_name(x.dtype()),
             dtype_name(out.dtype()));
    TS_CHECK(x.dtype() != DType::Bool, "unary: operation {} is not defined for bool tensors", name);
    TS_CHECK(!is_integer(x.dtype()) || kernels::unary_supports_integers(unary_kind(op)),
             "unary: operation {} is not defined for integer tensors", name);
  }
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry(name, {&out, &x});
  if (g.numel == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::unary(unary_kind(op), unary_args(p), scalar_type(x.dtype()), out.raw_data(), x.raw_data(), g,
                               cuda_detail::current_stream(dev)),
                name);
}

void CudaBackend::unary_backward(UnaryOp op, const UnaryParams& p, const Tensor& grad_out, const Tensor& x,
                                 const Tensor& result, const Tensor& grad_in) {
  TS_CHECK(op != UnaryOp::LogicalNot, "unary_backward: logical_not has no gradient");
  const char* name = unary_name(op);
  // Each formula reads x or the forward result, never both.
  const Tensor& v = kernels::unary_backward_uses_result(unary_kind(op)) ? result : x;
  TS_CHECK(v.defined(), "unary_backward: {} needs its forward {}", name,
           kernels::unary_backward_uses_result(unary_kind(op)) ? "result" : "input");
  const int dev = cuda_detail::common_device("unary_backward", {&grad_out, &v, &grad_in});
  const DType dt = grad_out.dtype();
  TS_CHECK(is_floating_point(dt), "unary_backward: expected a floating-point tensor but got {}", dtype_name(dt));
  TS_CHECK(v.dtype() == dt && grad_in.dtype() == dt,
           "unary_backward ({}): grad_out, forward tensor and grad_in must share a dtype, got {}, {} and {}", name,
           dtype_name(dt), dtype_name(v.dtype()), dtype_name(grad_in.dtype()));
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry("unary_backward", {&grad_in, &grad_out, &v});
  if (g.numel == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::unary_backward(unary_kind(op), unary_args(p), scalar_type(dt), grad_in.raw_data(),
                                        grad_out.raw_data(), v.raw_data(), g, cuda_detail::current_stream(dev)),
                name);
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const char* name = binary_name(op);
  const int dev = cuda_detail::common_device(name, {&a, &b, &out});
  const DType dt = a.dtype();
  TS_CHECK(b.dtype() == dt, "{}: operands have dtypes {} and {}; the op layer casts them to one", name,
           dtype_name(dt), dtype_name(b.dtype()));
  const bool writes_bool = kernels::binary_writes_bool(binary_kind(op));
  TS_CHECK(out.dtype() == (writes_bool ? DType::Bool : dt), "{}: expected a {} output for {} inputs, got {}", name,
           dtype_name(writes_bool ? DType::Bool : dt), dtype_name(dt), dtype_name(out.dtype()));
  TS_CHECK(dt != DType::Bool || writes_bool || op == BinaryOp::Add || op == BinaryOp::Maximum ||
               op == BinaryOp::Mul || op == BinaryOp::Minimum,
           "binary: operation {} is not defined for bool tensors", name);
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry(name, {&out, &a, &b});
  if (g.numel == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::binary(binary_kind(op), scalar_type(dt), out.raw_data(), a.raw_data(), b.raw_data(), g,
                                cuda_detail::current_stream(dev)),
                name);
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int dev = cuda_detail::common_device("where", {&cond, &a, &b, &out});
  TS_CHECK(cond.dtype() == DType::Bool, "where: condition must be a bool tensor, got {}", dtype_name(cond.dtype()));
  TS_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype(),
           "where: values have dtypes {} and {} but the output is {}; the op layer casts them to one",
           dtype_name(a.dtype()), dtype_name(b.dtype()), dtype_name(out.dtype()));
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry("where", {&out, &cond, &a, &b});
  if (g.numel == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::where(scalar_type(out.dtype()), out.raw_data(), static_cast<const bool*>(cond.raw_data()),
                               a.raw_data(), b.raw_data(), g, cuda_detail::current_stream(dev)),
                "where");
}

}  // namespace ts
