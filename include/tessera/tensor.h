#pragma once
/// ts::Tensor: a cheap, refcounted handle to {storage, offset, shape, strides, dtype} plus
/// autograd state. Copying a Tensor aliases; views share storage. Mirrors torch::Tensor.
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tessera/device.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/scalar.h"
#include "tessera/shape.h"
#include "tessera/storage.h"

namespace ts {

class Tensor;
namespace autograd {
class Node;
struct AutogradMeta;
}  // namespace autograd

/// Returns the gradient to use instead (or an undefined Tensor to keep it unchanged).
using GradHook = std::function<Tensor(const Tensor&)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  ///< in elements
  Shape shape;
  Strides strides;  ///< in elements
  DType dtype = DType::Float32;
  bool is_view = false;  ///< shares storage with another tensor (in-place autograd checks use it)
  std::unique_ptr<autograd::AutogradMeta> autograd;  ///< null until autograd needs it
  // Out of line, so code that never includes autograd.h can create and destroy impls.
  TensorImpl();
  ~TensorImpl();
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }  ///< libtorch spelling
  int64_t size(int64_t dim) const;
  const Strides& strides() const { return impl().strides; }
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  DType scalar_type() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_cpu() const { return device().is_cpu(); }
  bool is_floating_point() const { return ts::is_floating_point(dtype()); }
  int64_t storage_offset() const { return impl().offset; }
  size_t element_size() const { return ts::element_size(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl* unsafe_impl() const { return impl_.get(); }
  std::weak_ptr<TensorImpl> weak_impl() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  std::string str() const;  ///< the printout of operator<<

  // ---- data access (CPU tensors) -----------------------------------------------------------
  void* raw_data() const;  ///< address of element 0 (any device)
  template <typename T> T* data_ptr() const;
  template <typename T> T item() const;
  template <typename T> std::vector<T> to_vector() const;

  // ---- conversion -----------------------------------------------------------------------
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  /// With non_blocking, a copy from pinned host memory (ts::cuda::pin_memory) to a GPU is
  /// queued on the GPU's current stream and returns at once, as PyTorch's to(non_blocking=True).
  /// Every other copy waits for completion.
  Tensor to(Device device, bool non_blocking) const;
  Tensor to(Device device, DType dtype) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor detach() const;
  Tensor& copy_(const Tensor& src);

  // ---- views (alias storage) -------------------------------------------------------------
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  ///< transpose of a matrix
  Tensor slice(int64_t dim, std::optional<int64_t> start = std::nullopt, std::optional<int64_t> end = std::nullopt,
               int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor view_as(const Tensor& other) const { return view(other.shape()); }

  // ---- autograd -------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  Tensor grad() const;
  /// Replaces the stored gradient (an undefined Tensor clears it).
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  bool is_leaf() const;
  /// Runs backward from this tensor. A non-scalar needs a `gradient` of its shape.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  /// Calls `hook(grad)` when the gradient w.r.t. this tensor is computed; a defined return
  /// value replaces the gradient.
  void register_hook(GradHook hook) const;
  /// Keeps .grad() for a non-leaf tensor after backward.
  void retain_grad() const;
  /// Version counter of the underlying storage (bumped by in-place ops).
  uint64_t _version() const { return storage()->version(); }

  // ---- math methods (same as the free functions in ops.h) ----------------------------------
  Tensor neg() const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(const Scalar& exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max) const;
  Tensor sum(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor masked_fill(const Tensor& mask, const Scalar& value) const;

  // ---- in-place (bump the version counter) -------------------------------------------------
  Tensor& add_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& sub_(const Scalar& other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);
  Tensor& fill_(const Scalar& value);
  Tensor& zero_();
  Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max);
  Tensor& masked_fill_(const Tensor& mask, const Scalar& value);

  // ---- internal ------------------------------------------------------------------------
  TensorImpl& impl() const {
    TS_CHECK(impl_ != nullptr, "Tensor: operation on an undefined tensor");
    return *impl_;
  }
  autograd::AutogradMeta* autograd_meta() const;          ///< null if never touched by autograd
  autograd::AutogradMeta& ensure_autograd_meta() const;  ///< creates it on first use

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// A tensor with fresh storage (uninitialized contents) — the op layer's allocator.
Tensor make_tensor(const Shape& shape, DType dtype, Device device);
/// A view of `base`'s storage with new geometry; no autograd recorded.
Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset);

// ---- template definitions --------------------------------------------------------------------
namespace detail {
void check_access(const Tensor& t, DType expected, const char* what);
}

template <typename T> T* Tensor::data_ptr() const {
  detail::check_access(*this, dtype_of_v<T>, "data_ptr");
  return static_cast<T*>(raw_data());
}

template <typename T> T Tensor::item() const {
  TS_CHECK(numel() == 1, "item: expected a tensor with one element but got shape {}", shape_str(shape()));
  Tensor c = to(Device(DeviceType::CPU)).to(dtype_of_v<T>).contiguous();
  return *static_cast<const T*>(c.raw_data());
}

template <typename T> std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device(DeviceType::CPU)).to(dtype_of_v<T>).contiguous();
  const T* p = static_cast<const T*>(c.raw_data());
  return std::vector<T>(p, p + c.numel());
}

}  // namespace ts
