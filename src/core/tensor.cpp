// Tensor metadata, data access, conversion and autograd accessors. Views live in views.cpp
// (ops), printing in print.cpp.
#include "tessera/tensor.h"

#include "tessera/autograd.h"
#include "tessera/backend.h"
#include "tessera/creation.h"
#include "tessera/cuda.h"
#include "tessera/ops.h"

namespace ts {

TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * static_cast<int64_t>(element_size());
}

namespace detail {
void check_access(const Tensor& t, DType expected, const char* what) {
  TS_CHECK(t.defined(), "{}: tensor is undefined", what);
  TS_CHECK(t.dtype() == expected, "{}: tensor has dtype {} but {} was requested", what, dtype_name(t.dtype()),
           dtype_name(expected));
  TS_CHECK(t.is_cpu(), "{}: tensor is on {}; move it to the CPU first", what, t.device().str());
}
}  // namespace detail

Tensor make_tensor(const Shape& shape, DType dtype, Device device) {
  for (auto s : shape) TS_CHECK(s >= 0, "empty: negative dimension in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  const size_t nbytes = static_cast<size_t>(numel_of(shape)) * ts::element_size(dtype);
  impl->storage = std::make_shared<Storage>(nbytes, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

// ---- conversion ----------------------------------------------------------------------------

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = make_tensor(shape(), dt, device());
  {
    NoGradGuard g;
    backend_for(device()).copy(*this, out);
  }
  if (autograd::any_requires_grad({this}) && ts::is_floating_point(dt)) {
    const DType src = dtype();
    autograd::record("ToDtypeBackward", {*this}, {out},
                     [src](const std::vector<Tensor>& g, const autograd::Node&) -> std::vector<Tensor> {
                       return {g[0].to(src)};
                     });
  }
  return out;
}

Tensor Tensor::to(Device dev) const { return to(dev, false); }

Tensor Tensor::to(Device dev, bool non_blocking) const {
  if (dev == device()) return *this;
  Tensor src = contiguous();
  Tensor out = make_tensor(shape(), dtype(), dev);
  // The backend of whichever side is not the CPU performs the transfer.
  Backend& be = backend_for(dev.is_cpu() ? src.device() : dev);
  be.copy_bytes(out.raw_data(), dev, src.raw_data(), src.device(), src.nbytes());
  // Pinned sources stay valid until the queued copy has read them (their allocator waits for
  // the stream before reusing the block), so only those may skip the wait.
  const bool async = non_blocking && src.is_cpu() && !dev.is_cpu() && cuda::is_pinned(src);
  if (!dev.is_cpu() && !async) be.synchronize(dev.index);
  if (!src.device().is_cpu()) backend_for(src.device()).synchronize(src.device().index);
  if (autograd::any_requires_grad({this})) {
    const Device from = device();
    autograd::record("ToDeviceBackward", {*this}, {out},
                     [from](const std::vector<Tensor>& g, const autograd::Node&) -> std::vector<Tensor> {
                       return {g[0].to(from)};
                     });
  }
  return out;
}

Tensor Tensor::to(Device dev, DType dt) const { return to(dt).to(dev); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = storage_offset();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

// ---- autograd accessors ---------------------------------------------------------------------

autograd::AutogradMeta* Tensor::autograd_meta() const { return impl().autograd.get(); }

autograd::AutogradMeta& Tensor::ensure_autograd_meta() const {
  auto& a = impl().autograd;
  if (!a) a = std::make_unique<autograd::AutogradMeta>();
  return *a;
}

bool Tensor::requires_grad() const {
  auto* m = autograd_meta();
  return m && (m->requires_grad || m->grad_fn);
}

Tensor& Tensor::requires_grad_(bool on) {
  auto* m = autograd_meta();
  TS_CHECK(!(m && m->grad_fn) || on,
           "requires_grad_: cannot turn off requires_grad on a non-leaf tensor (use detach())");
  TS_CHECK(!on || ts::is_floating_point(dtype()),
           "requires_grad_: only floating-point tensors can require gradients, got {}", dtype_name(dtype()));
  ensure_autograd_meta().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  auto* m = autograd_meta();
  return m ? m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  TS_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient shape {} does not match tensor shape {}",
           g.defined() ? shape_str(g.shape()) : "", shape_str(shape()));
  ensure_autograd_meta().grad = g;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  auto* m = autograd_meta();
  return m ? m->grad_fn : none;
}

bool Tensor::is_leaf() const { return grad_fn() == nullptr; }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::run_backward({*this}, {gradient}, retain_graph);
}

void Tensor::register_hook(GradHook hook) const {
  TS_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that does not require grad");
  auto& m = ensure_autograd_meta();
  if (m.grad_fn) {
    m.grad_fn->pre_hooks[m.output_nr].push_back(std::move(hook));
  } else {
    m.leaf_hooks.push_back(std::move(hook));
  }
}

void Tensor::retain_grad() const {
  TS_CHECK(requires_grad(), "retain_grad: tensor does not require grad");
  auto& m = ensure_autograd_meta();
  if (!m.grad_fn || m.retains_grad) return;  // leaves keep .grad() anyway
  m.retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  m.grad_fn->pre_hooks[m.output_nr].push_back([weak](const Tensor& g) {
    if (auto self = weak.lock()) {
      auto& meta = *self->autograd;
      meta.grad = meta.grad.defined() ? meta.grad + g : g.clone();
    }
    return Tensor();
  });
}

}  // namespace ts
