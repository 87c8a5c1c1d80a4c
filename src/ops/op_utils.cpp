#include "ops/op_utils.h"

namespace ts::ops {

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    TS_CHECK(t->device() == first->device(), "{}: expected all tensors on one device, but found {} and {}", op,
             first->device().str(), t->device().str());
  }
}

Tensor cast(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = make_tensor(t.shape(), dtype, t.device());
  backend_for(t).copy(t, out);
  return out;
}

Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const size_t n = shape.size(), k = t.shape().size();
  TS_CHECK(k <= n, "expand: cannot expand shape {} to fewer dims {}", shape_str(t.shape()), shape_str(shape));
  Strides st(n, 0);
  for (size_t i = 0; i < k; ++i) {
    const int64_t src = t.shape()[i], dst = shape[n - k + i];
    TS_CHECK(src == dst || src == 1, "expand: the size of dimension {} ({}) must match {} or be 1 (shape {} to {})",
             i, src, dst, shape_str(t.shape()), shape_str(shape));
    st[n - k + i] = src == 1 && dst != 1 ? 0 : t.strides()[i];
  }
  return make_view(t, shape, st, t.storage_offset());
}

Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = make_tensor(t.shape(), t.dtype(), t.device());
  backend_for(t).copy(t, out);
  return out;
}

Tensor grad_for(const Tensor& g, const Tensor& input) {
  Tensor r = autograd::sum_to(g, input.shape());
  return r.dtype() == input.dtype() ? r : cast(r, input.dtype());
}

void check_index_dtype(const char* op, const Tensor& t, bool allow_int32) {
  TS_CHECK(t.dtype() == DType::Int64 || (allow_int32 && t.dtype() == DType::Int32),
           "{}: expected indices of dtype int64{} but got {}", op, allow_int32 ? " or int32" : "",
           dtype_name(t.dtype()));
}

void check_inplace(const char* op, const Tensor& self, std::initializer_list<const Tensor*> others) {
  if (!autograd::grad_mode_enabled()) return;
  bool any = self.requires_grad();
  for (const Tensor* o : others) any |= o->defined() && o->requires_grad();
  if (!any) return;
  TS_CHECK(!(self.requires_grad() && self.is_leaf()),
           "{}: a leaf tensor that requires grad is being used in an in-place operation (wrap it in NoGradGuard, "
           "e.g. for optimizer updates)",
           op);
  TS_CHECK(!self.unsafe_impl()->is_view,
           "{}: in-place operation on a view of shape {} while autograd is recording; apply it to a clone() or "
           "to the base tensor instead",
           op, shape_str(self.shape()));
}

}  // namespace ts::ops
