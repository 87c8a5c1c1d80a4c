// In-place ops and the Tensor math methods. An in-place op writes into self's storage,
// bumps its version counter (Note [Saved tensors and versions]) and, under autograd, moves
// self's grad_fn to the node of the computation that produced the new value.
#include "ops/op_utils.h"

namespace ts {
namespace {

bool can_cast(DType from, DType to) {
  // PyTorch refuses to write a floating result into an integer tensor, or a non-bool into bool.
  if (is_floating_point(from) && !is_floating_point(to)) return false;
  if (from != DType::Bool && to == DType::Bool) return false;
  return true;
}

// self = compute(self, other...) with the bookkeeping described above.
Tensor& apply_inplace(Tensor& self, const char* name, std::initializer_list<const Tensor*> others,
                      const std::function<Tensor(const Tensor&)>& compute) {
  TS_CHECK(self.defined(), "{}: tensor is undefined", name);
  ops::check_inplace(name, self, others);
  bool recording = autograd::any_requires_grad({&self});
  for (const Tensor* o : others) recording |= autograd::any_requires_grad({o});
  // Under autograd the computation reads a snapshot, so nodes that saved the old value stay valid.
  Tensor result = compute(recording ? self.clone() : self);
  TS_CHECK(can_cast(result.dtype(), self.dtype()), "{}: result type {} can't be cast to the desired output type {}",
           name, dtype_name(result.dtype()), dtype_name(self.dtype()));
  TS_CHECK(result.shape() == self.shape(),
           "{}: the result of shape {} does not match the in-place destination of shape {} (broadcasting cannot grow "
           "the destination)",
           name, shape_str(result.shape()), shape_str(self.shape()));
  backend_for(self).copy(result, self);
  self.storage()->bump_version();
  if (recording && result.requires_grad()) {
    auto& meta = self.ensure_autograd_meta();
    meta.grad_fn = result.grad_fn();
    meta.output_nr = result.autograd_meta()->output_nr;
  }
  return self;
}

// Fast path with no autograd: the kernel writes straight into self (no temporary).
bool binary_in_place_direct(Tensor& self, BinaryOp op, const Tensor& other) {
  if (autograd::any_requires_grad({&self, &other})) return false;
  if (other.storage() == self.storage()) return false;  // may overlap
  if (result_type(self, other) != self.dtype() || (op == BinaryOp::Div && !is_floating_point(self.dtype()))) return false;
  if (broadcast_shapes(self.shape(), other.shape(), "in-place") != self.shape()) return false;
  ops::check_same_device("in-place", {&self, &other});
  backend_for(self).binary(op, self, ops::broadcast_view(ops::cast(other, self.dtype()), self.shape()), self);
  self.storage()->bump_version();
  return true;
}

Tensor scalar_of(const Scalar& s, const Tensor& like) { return full({}, s, TensorOptions(like.dtype()).with_device(like.device())); }

}  // namespace

Tensor& Tensor::add_(const Tensor& other, const Scalar& alpha) {
  if (alpha.to_double() == 1.0 && binary_in_place_direct(*this, BinaryOp::Add, other)) return *this;
  return apply_inplace(*this, "add_", {&other}, [&](const Tensor& s) { return ts::add(s, other, alpha); });
}
Tensor& Tensor::add_(const Scalar& other) { return add_(scalar_of(other, *this)); }
Tensor& Tensor::sub_(const Tensor& other, const Scalar& alpha) {
  if (alpha.to_double() == 1.0 && binary_in_place_direct(*this, BinaryOp::Sub, other)) return *this;
  return apply_inplace(*this, "sub_", {&other}, [&](const Tensor& s) { return ts::sub(s, other, alpha); });
}
Tensor& Tensor::sub_(const Scalar& other) { return sub_(scalar_of(other, *this)); }
Tensor& Tensor::mul_(const Tensor& other) {
  if (binary_in_place_direct(*this, BinaryOp::Mul, other)) return *this;
  return apply_inplace(*this, "mul_", {&other}, [&](const Tensor& s) { return ts::mul(s, other); });
}
Tensor& Tensor::mul_(const Scalar& other) { return mul_(scalar_of(other, *this)); }
Tensor& Tensor::div_(const Tensor& other) {
  if (binary_in_place_direct(*this, BinaryOp::Div, other)) return *this;
  return apply_inplace(*this, "div_", {&other}, [&](const Tensor& s) { return ts::div(s, other); });
}
Tensor& Tensor::div_(const Scalar& other) {
  return apply_inplace(*this, "div_", {}, [&](const Tensor& s) { return s / other; });
}

Tensor& Tensor::fill_(const Scalar& value) {
  ops::check_inplace("fill_", *this, {});
  backend_for(*this).fill(*this, value.to_double());
  storage()->bump_version();
  if (requires_grad() && autograd::grad_mode_enabled()) {
    // the new value is a constant: gradients stop here
    autograd::record("fill_", {*this}, {*this},
                     [](const std::vector<Tensor>&, const autograd::Node&) { return std::vector<Tensor>{Tensor()}; });
  }
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  return apply_inplace(*this, "clamp_", {}, [&](const Tensor& s) { return ts::clamp(s, min, max); });
}

Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& value) {
  return apply_inplace(*this, "masked_fill_", {}, [&](const Tensor& s) { return ts::masked_fill(s, mask, value); });
}

Tensor Tensor::neg() const { return ts::neg(*this); }
Tensor Tensor::abs() const { return ts::abs(*this); }
Tensor Tensor::exp() const { return ts::exp(*this); }
Tensor Tensor::log() const { return ts::log(*this); }
Tensor Tensor::sqrt() const { return ts::sqrt(*this); }
Tensor Tensor::rsqrt() const { return ts::rsqrt(*this); }
Tensor Tensor::tanh() const { return ts::tanh(*this); }
Tensor Tensor::sigmoid() const { return ts::sigmoid(*this); }
Tensor Tensor::relu() const { return ts::relu(*this); }
Tensor Tensor::pow(const Scalar& e) const { return ts::pow(*this, e); }
Tensor Tensor::pow(const Tensor& e) const { return ts::pow(*this, e); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return ts::clamp(*this, min, max); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return ts::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const { return ts::mean(*this, dims, keepdim); }
Tensor Tensor::matmul(const Tensor& other) const { return ts::matmul(*this, other); }
Tensor Tensor::masked_fill(const Tensor& mask, const Scalar& value) const { return ts::masked_fill(*this, mask, value); }

}  // namespace ts
