// Elementwise ops: type promotion, broadcasting, the unary/binary/where kernels and their
// backward formulas (each next to its forward, Flashlight style).
#include <cmath>

#include "ops/op_utils.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;
using ops::grad_for;

namespace {
int category(DType t) { return t == DType::Bool ? 0 : is_floating_point(t) ? 2 : 1; }
}  // namespace

// PyTorch's rule: a 0-dim tensor only decides the type when its category is higher than the
// dimensioned operand's.
DType result_type(const Tensor& a, const Tensor& b) {
  const bool az = a.dim() == 0, bz = b.dim() == 0;
  if (az != bz) {
    const DType d = az ? b.dtype() : a.dtype(), z = az ? a.dtype() : b.dtype();
    return category(z) > category(d) ? z : d;
  }
  return promote_types(a.dtype(), b.dtype());
}

DType result_type(const Tensor& a, const Scalar& b) {
  const int sc = b.is_bool() ? 0 : b.is_integral() ? 1 : 2;
  if (sc <= category(a.dtype())) return a.dtype();
  return sc == 2 ? kDefaultFloat : DType::Int64;
}

namespace {

Tensor scalar_like(const Scalar& s, DType dtype, Device device) {
  Tensor t = make_tensor({}, dtype, device);
  backend_for(device).fill(t, s.to_double());
  return t;
}

// ---- unary -----------------------------------------------------------------------------------

bool int_capable(UnaryOp op) {
  return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || op == UnaryOp::Square ||
         op == UnaryOp::Relu || op == UnaryOp::Clamp;
}

Tensor unary_op(UnaryOp op, const Tensor& x, const char* name, UnaryParams p = {}) {
  TS_CHECK(x.defined(), "{}: input tensor is undefined", name);
  TS_CHECK(x.dtype() != DType::Bool || op == UnaryOp::LogicalNot, "{}: not defined for bool tensors", name);
  const DType compute = int_capable(op) ? x.dtype() : to_floating(x.dtype());
  const Tensor xin = ops::cast(x, compute);
  Tensor out = make_tensor(x.shape(), compute, x.device());
  backend_for(x).unary(op, p, xin, out);
  if (autograd::any_requires_grad({&x})) {
    autograd::record(name, {x}, {out},
                     [op, p, sx = SavedTensor(x), sy = SavedTensor(out)](const std::vector<Tensor>& g,
                                                                          const Node& self) -> std::vector<Tensor> {
                       const Tensor xv = sx.unpack(self), yv = sy.unpack(self);
                       Tensor gi = make_tensor(xv.shape(), g[0].dtype(), xv.device());
                       backend_for(xv).unary_backward(op, p, g[0], xv, yv, gi);
                       return {gi};
                     });
  }
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::Neg, x, "neg"); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, x, "abs"); }
Tensor sign(const Tensor& x) { return unary_op(UnaryOp::Sign, x, "sign"); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, x, "exp"); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, x, "log"); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, x, "sqrt"); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::Rsqrt, x, "rsqrt"); }
Tensor reciprocal(const Tensor& x) { return unary_op(UnaryOp::Reciprocal, x, "reciprocal"); }
Tensor square(const Tensor& x) { return unary_op(UnaryOp::Square, x, "square"); }
Tensor sin(const Tensor& x) { return unary_op(UnaryOp::Sin, x, "sin"); }
Tensor cos(const Tensor& x) { return unary_op(UnaryOp::Cos, x, "cos"); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, x, "tanh"); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, x, "sigmoid"); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, x, "relu"); }
Tensor silu(const Tensor& x) { return unary_op(UnaryOp::Silu, x, "silu"); }

Tensor gelu(const Tensor& x, const std::string& approximate) {
  TS_CHECK(approximate == "none" || approximate == "tanh",
           "gelu: approximate must be 'none' or 'tanh', got '{}'", approximate);
  return unary_op(approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::GeluErf, x, "gelu");
}

Tensor pow(const Tensor& x, const Scalar& exponent) {
  UnaryParams p;
  p.a = exponent.to_double();
  return unary_op(UnaryOp::PowScalar, x, "pow", p);
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  TS_CHECK(min || max, "clamp: at least one of min and max must be given");
  UnaryParams p;
  if (min) {
    p.a = min->to_double();
    p.has_a = true;
  }
  if (max) {
    p.b = max->to_double();
    p.has_b = true;
  }
  return unary_op(UnaryOp::Clamp, x, "clamp", p);
}

Tensor logical_not(const Tensor& x) {
  Tensor out = make_tensor(x.shape(), DType::Bool, x.device());
  backend_for(x).unary(UnaryOp::LogicalNot, {}, x, out);
  return out;
}

// ---- binary ------------------------------------------------------------------------------------

namespace {

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

// Computes op(a, b) with broadcasting into a new tensor; records no autograd.
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, DType* compute_out = nullptr) {
  TS_CHECK(a.defined() && b.defined(), "{}: input tensor is undefined", name);
  ops::check_same_device(name, {&a, &b});
  DType compute = result_type(a, b);
  if (op == BinaryOp::Div) compute = to_floating(compute);  // true division, like PyTorch
  if (op >= BinaryOp::LogicalAnd) compute = DType::Bool;
  TS_CHECK(compute != DType::Bool || is_comparison(op) || op == BinaryOp::Maximum || op == BinaryOp::Minimum ||
               op == BinaryOp::Mul || op == BinaryOp::Add,
           "{}: not defined for bool tensors", name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const Tensor av = ops::broadcast_view(ops::cast(a, compute), shape);
  const Tensor bv = ops::broadcast_view(ops::cast(b, compute), shape);
  Tensor out = make_tensor(shape, is_comparison(op) ? DType::Bool : compute, a.device());
  backend_for(a).binary(op, av, bv, out);
  if (compute_out) *compute_out = compute;
  return out;
}

// Gradients of op(a, b) w.r.t. a and b, given the output gradient g (broadcast shape).
std::vector<Tensor> binary_backward(BinaryOp op, const Tensor& g, const Tensor& a, const Tensor& b,
                                    const Tensor& out, const Node& self) {
  Tensor ga, gb;
  const bool need_a = self.needs_input_grad(0), need_b = self.needs_input_grad(1);
  switch (op) {
    case BinaryOp::Add:
      ga = g;
      gb = g;
      break;
    case BinaryOp::Sub:
      ga = g;
      if (need_b) gb = neg(g);
      break;
    case BinaryOp::Mul:
      if (need_a) ga = g * b;
      if (need_b) gb = g * a;
      break;
    case BinaryOp::Div:
      if (need_a) ga = g / b;
      if (need_b) gb = neg(g) * out / b;
      break;
    case BinaryOp::Pow:
      if (need_a) ga = g * b * pow(a, b - 1);
      if (need_b) gb = g * out * log(a);
      break;
    case BinaryOp::Maximum:
    case BinaryOp::Minimum: {
      // Ties split the gradient evenly, as in PyTorch.
      const Tensor a_wins = op == BinaryOp::Maximum ? gt(a, b) : lt(a, b);
      const Tensor tie = eq(a, b);
      const Tensor half_g = g * 0.5;
      if (need_a) ga = where(a_wins, g, where(tie, half_g, zeros_like(g)));
      if (need_b) gb = where(a_wins, zeros_like(g), where(tie, half_g, g));
      break;
    }
    default: break;
  }
  return {ga.defined() && need_a ? grad_for(ga, a) : Tensor(), gb.defined() && need_b ? grad_for(gb, b) : Tensor()};
}

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  Tensor out = binary_forward(op, a, b, name);
  if (!is_comparison(op) && autograd::any_requires_grad({&a, &b})) {
    const bool save_out = op == BinaryOp::Div || op == BinaryOp::Pow;
    autograd::record(name, {a, b}, {out},
                     [op, sa = SavedTensor(a), sb = SavedTensor(b), so = SavedTensor(save_out ? out : Tensor())](
                         const std::vector<Tensor>& g, const Node& self) -> std::vector<Tensor> {
                       return binary_backward(op, g[0], sa.unpack(self), sb.unpack(self), so.unpack(self), self);
                     });
  }
  return out;
}

Tensor binary_scalar(BinaryOp op, const Tensor& a, const Scalar& s, const char* name, bool scalar_first = false) {
  const DType dt = result_type(a, s);
  const Tensor st = scalar_like(s, dt, a.device());
  return scalar_first ? binary_op(op, st, a, name) : binary_op(op, a, st, name);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  return alpha.to_double() == 1.0 ? binary_op(BinaryOp::Add, a, b, "add") : binary_op(BinaryOp::Add, a, b * alpha, "add");
}
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  return alpha.to_double() == 1.0 ? binary_op(BinaryOp::Sub, a, b, "sub") : binary_op(BinaryOp::Sub, a, b * alpha, "sub");
}
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Mul, a, b, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Div, a, b, "div"); }
Tensor pow(const Tensor& x, const Tensor& exponent) { return binary_op(BinaryOp::Pow, x, exponent, "pow"); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Maximum, a, b, "maximum"); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Minimum, a, b, "minimum"); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Ge, a, b, "ge"); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::LogicalAnd, a, b, "logical_and"); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::LogicalOr, a, b, "logical_or"); }

Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Add, a, b, "add"); }
Tensor operator-(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Sub, a, b, "sub"); }
Tensor operator*(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Mul, a, b, "mul"); }
Tensor operator/(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Div, a, b, "div"); }
Tensor operator+(const Scalar& a, const Tensor& b) { return binary_scalar(BinaryOp::Add, b, a, "add", true); }
Tensor operator-(const Scalar& a, const Tensor& b) { return binary_scalar(BinaryOp::Sub, b, a, "sub", true); }
Tensor operator*(const Scalar& a, const Tensor& b) { return binary_scalar(BinaryOp::Mul, b, a, "mul", true); }
Tensor operator/(const Scalar& a, const Tensor& b) { return binary_scalar(BinaryOp::Div, b, a, "div", true); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Eq, a, b, "eq"); }
Tensor operator!=(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Ne, a, b, "ne"); }
Tensor operator<(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Lt, a, b, "lt"); }
Tensor operator<=(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Le, a, b, "le"); }
Tensor operator>(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Gt, a, b, "gt"); }
Tensor operator>=(const Tensor& a, const Scalar& b) { return binary_scalar(BinaryOp::Ge, a, b, "ge"); }

// ---- where / masked_fill -------------------------------------------------------------------------

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  TS_CHECK(cond.dtype() == DType::Bool, "where: condition must be a bool tensor, got {}", dtype_name(cond.dtype()));
  ops::check_same_device("where", {&cond, &a, &b});
  const DType dt = result_type(a, b);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = make_tensor(shape, dt, a.device());
  backend_for(a).where(ops::broadcast_view(cond, shape), ops::broadcast_view(ops::cast(a, dt), shape),
                       ops::broadcast_view(ops::cast(b, dt), shape), out);
  if (autograd::any_requires_grad({&a, &b})) {
    autograd::record("where", {a, b}, {out},
                     [c = cond, sa = SavedTensor(a), sb = SavedTensor(b)](const std::vector<Tensor>& g,
                                                                       const Node& self) -> std::vector<Tensor> {
                       const Tensor z = zeros_like(g[0]);
                       Tensor ga, gb;
                       if (self.needs_input_grad(0)) ga = grad_for(where(c, g[0], z), sa.unpack(self));
                       if (self.needs_input_grad(1)) gb = grad_for(where(c, z, g[0]), sb.unpack(self));
                       return {ga, gb};
                     });
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b) {
  return where(cond, a, scalar_like(b, result_type(a, b), a.device()));
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value) {
  TS_CHECK(mask.dtype() == DType::Bool, "masked_fill: mask must be a bool tensor, got {}", dtype_name(mask.dtype()));
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  TS_CHECK(shape == x.shape(), "masked_fill: mask of shape {} does not broadcast to the input shape {}",
           shape_str(mask.shape()), shape_str(x.shape()));
  return where(mask, scalar_like(value, x.dtype(), x.device()), x);
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  NoGradGuard g;
  broadcast_shapes(a.shape(), b.shape(), "allclose");  // throws, naming both shapes, if incompatible
  const Tensor ad = ops::cast(a, DType::Float64), bd = ops::cast(b, DType::Float64);
  const Tensor diff = abs(ad - bd), tol = abs(bd) * rtol + atol;
  // NaNs compare unequal, like torch.allclose with equal_nan=false
  const Tensor bad = logical_not(le(diff, tol));
  return !max(ops::cast(bad, DType::Float64)).item<double>();
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  NoGradGuard g;
  if (a.numel() == 0) return true;
  return min(ops::cast(eq(a, b), DType::Float64)).item<double>() == 1.0;
}

}  // namespace ts
