// View ops (alias storage) and copies, with autograd. Each view's backward maps the gradient
// back to the input's geometry.
#include <algorithm>
#include <numeric>

#include "ops/op_utils.h"

namespace ts {
using autograd::Node;

namespace {

// Infers a single -1 entry and checks the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& input_shape) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TS_CHECK(infer < 0, "{}: only one dimension can be inferred (-1) in shape {}", op, shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      TS_CHECK(out[i] >= 0, "{}: invalid negative size {} in shape {}", op, out[i], shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TS_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for input of shape {} ({} elements)", op,
             shape_str(shape), shape_str(input_shape), numel);
    out[static_cast<size_t>(infer)] = numel / known;
  }
  TS_CHECK(numel_of(out) == numel, "{}: shape {} is invalid for input of shape {} ({} elements)", op, shape_str(shape),
           shape_str(input_shape), numel);
  return out;
}

// Strides for viewing (shape, strides) as new_shape without copying, if possible (the
// algorithm of PyTorch's computeStride: chunks of dims that are contiguous with each other).
std::optional<Strides> view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape) {
  Strides out(new_shape.size());
  if (numel_of(shape) == 0 || shape.empty()) {
    return contiguous_strides(new_shape);
  }
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[static_cast<size_t>(d)];
    if (d == 0 || (shape[static_cast<size_t>(d - 1)] != 1 &&
                   strides[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[static_cast<size_t>(view_d)] == 1)) {
        out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= new_shape[static_cast<size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[static_cast<size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// Records a view op whose backward is `back(g)`.
Tensor record_view(const char* name, const Tensor& x, Tensor out, std::function<Tensor(const Tensor&)> back) {
  if (autograd::any_requires_grad({&x})) {
    autograd::record(name, {x}, {out}, [back = std::move(back)](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{back(g[0])};
    });
  }
  return out;
}

Tensor identity_copy(const Tensor& x, const char* name) {
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  backend_for(x).copy(x, out);
  return record_view(name, x, out, [](const Tensor& g) { return g; });
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape_in) {
  const Shape shape = infer_shape(shape_in, x.numel(), "view", x.shape());
  auto st = view_strides(x.shape(), x.strides(), shape);
  TS_CHECK(st.has_value(),
           "view: shape {} is not compatible with the input's shape {} and strides {} (at least one dimension spans "
           "non-contiguous memory); use reshape() instead",
           shape_str(shape), shape_str(x.shape()), shape_str(x.strides()));
  return record_view("view", x, make_view(x, shape, *st, x.storage_offset()),
                     [in = x.shape()](const Tensor& g) { return g.reshape(in); });
}

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  const Shape shape = infer_shape(shape_in, x.numel(), "reshape", x.shape());
  if (view_strides(x.shape(), x.strides(), shape)) return view(x, shape);
  return view(contiguous(x), shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  TS_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: got {} dims [{}] for a tensor of shape {}",
           dims.size(), fmt::join(dims, ", "), shape_str(x.shape()));
  Shape shape(dims.size());
  Strides st(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], x.dim(), "permute");
    TS_CHECK(inverse[static_cast<size_t>(d)] < 0, "permute: dimension {} repeats in [{}]", d, fmt::join(dims, ", "));
    inverse[static_cast<size_t>(d)] = static_cast<int64_t>(i);
    shape[i] = x.shape()[static_cast<size_t>(d)];
    st[i] = x.strides()[static_cast<size_t>(d)];
  }
  return record_view("permute", x, make_view(x, shape, st, x.storage_offset()),
                     [inverse](const Tensor& g) { return g.permute(inverse); });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  if (x.dim() == 0) return x;
  std::vector<int64_t> perm(static_cast<size_t>(x.dim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[static_cast<size_t>(wrap_dim(d0, x.dim(), "transpose"))],
            perm[static_cast<size_t>(wrap_dim(d1, x.dim(), "transpose"))]);
  return permute(x, perm);
}

Tensor slice(const Tensor& x, int64_t dim_in, std::optional<int64_t> start_in, std::optional<int64_t> end_in,
             int64_t step) {
  TS_CHECK(x.dim() > 0, "slice: cannot slice a 0-dim tensor");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "slice");
  TS_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  // Python slicing: negative indices count from the end, out-of-range bounds clamp.
  auto clampi = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
  const int64_t start = clampi(start_in.value_or(0));
  const int64_t end = std::max(start, clampi(end_in.value_or(n)));
  Shape shape = x.shape();
  Strides st = x.strides();
  shape[static_cast<size_t>(dim)] = (end - start + step - 1) / step;
  st[static_cast<size_t>(dim)] *= step;
  const int64_t offset = x.storage_offset() + start * x.strides()[static_cast<size_t>(dim)];
  return record_view("slice", x, make_view(x, shape, st, offset), [in = x.shape(), dim, start, end, step](const Tensor& g) {
    Tensor gi = zeros(in, TensorOptions(g.dtype()).with_device(g.device()));
    gi.slice(dim, start, end, step).copy_(g);
    return gi;
  });
}

Tensor narrow(const Tensor& x, int64_t dim_in, int64_t start, int64_t length) {
  const int64_t dim = wrap_dim(dim_in, x.dim(), "narrow");
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  if (start < 0) start += n;
  TS_CHECK(start >= 0 && length >= 0 && start + length <= n,
           "narrow: start {} and length {} are out of range for dimension {} of size {} (shape {})", start, length, dim,
           n, shape_str(x.shape()));
  return slice(x, dim, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim_in, int64_t index) {
  TS_CHECK(x.dim() > 0, "select: cannot select on a 0-dim tensor");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "select");
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  TS_CHECK(index >= -n && index < n, "select: index {} is out of range for dimension {} of size {} (shape {})", index,
           dim, n, shape_str(x.shape()));
  if (index < 0) index += n;
  Shape shape = x.shape();
  Strides st = x.strides();
  const int64_t offset = x.storage_offset() + index * st[static_cast<size_t>(dim)];
  shape.erase(shape.begin() + dim);
  st.erase(st.begin() + dim);
  return record_view("select", x, make_view(x, shape, st, offset), [in = x.shape(), dim, index](const Tensor& g) {
    Tensor gi = zeros(in, TensorOptions(g.dtype()).with_device(g.device()));
    gi.select(dim, index).copy_(g);
    return gi;
  });
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim_in) {
  TS_CHECK(x.defined() && x.dim() > 0, "unbind: expected a tensor with at least one dimension but got {}",
           x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "unbind");
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  Shape shape = x.shape();
  Strides st = x.strides();
  const int64_t step = st[static_cast<size_t>(dim)];
  shape.erase(shape.begin() + dim);
  st.erase(st.begin() + dim);
  std::vector<Tensor> outs;
  for (int64_t i = 0; i < n; ++i) outs.push_back(make_view(x, shape, st, x.storage_offset() + i * step));
  // One node for all slices: its backward writes every slice's gradient into one tensor,
  // where n select() nodes would each zero-fill a full-size gradient and then be summed.
  if (n > 0 && autograd::any_requires_grad({&x})) {
    autograd::record("unbind", {x}, outs, [in = x.shape(), dim](const std::vector<Tensor>& g, const Node&) {
      Tensor gi = make_tensor(in, g[0].dtype(), g[0].device());
      for (size_t i = 0; i < g.size(); ++i) gi.select(dim, static_cast<int64_t>(i)).copy_(g[i]);
      return std::vector<Tensor>{gi};
    });
  }
  return outs;
}

Tensor expand(const Tensor& x, const Shape& shape_in) {
  TS_CHECK(shape_in.size() >= static_cast<size_t>(x.dim()),
           "expand: the number of sizes ({}) must be at least the tensor's number of dims ({}): {} to {}",
           shape_in.size(), x.dim(), shape_str(x.shape()), shape_str(shape_in));
  Shape shape = shape_in;
  const size_t lead = shape.size() - static_cast<size_t>(x.dim());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TS_CHECK(i >= lead, "expand: -1 is not allowed for a new leading dimension {}", i);
      shape[i] = x.shape()[i - lead];
    }
  }
  Tensor v = ops::broadcast_view(x, shape);
  if (v.is_same(x)) v = make_view(x, x.shape(), x.strides(), x.storage_offset());
  return record_view("expand", x, v, [in = x.shape()](const Tensor& g) { return autograd::sum_to(g, in); });
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  Shape shape;
  if (dim) {
    const int64_t d = wrap_dim(*dim, x.dim(), "squeeze");
    shape = x.shape();
    if (x.dim() > 0 && shape[static_cast<size_t>(d)] == 1) shape.erase(shape.begin() + d);
  } else {
    for (auto s : x.shape())
      if (s != 1) shape.push_back(s);
  }
  return view(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + d, 1);
  // unsqueeze of a non-contiguous tensor is always a valid view: pick a stride for the new dim
  Strides st = x.strides();
  const int64_t new_stride = d < x.dim() ? x.strides()[static_cast<size_t>(d)] * x.shape()[static_cast<size_t>(d)] : 1;
  st.insert(st.begin() + d, new_stride);
  return record_view("unsqueeze", x, make_view(x, shape, st, x.storage_offset()),
                     [in = x.shape()](const Tensor& g) { return g.reshape(in); });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  TS_CHECK(s <= e, "flatten: start_dim {} must not come after end_dim {}", start_dim, end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= x.shape()[static_cast<size_t>(d)];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : identity_copy(x, "contiguous"); }

// ---- Tensor methods that are views or copies ---------------------------------------------------

Tensor Tensor::view(const Shape& s) const { return ts::view(*this, s); }
Tensor Tensor::reshape(const Shape& s) const { return ts::reshape(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return ts::permute(*this, dims); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return ts::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  TS_CHECK(dim() <= 2, "t: expects a tensor with <= 2 dimensions, but got shape {}", shape_str(shape()));
  return dim() < 2 ? *this : ts::transpose(*this, 0, 1);
}
Tensor Tensor::slice(int64_t d, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) const {
  return ts::slice(*this, d, start, end, step);
}
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const { return ts::narrow(*this, d, start, length); }
Tensor Tensor::select(int64_t d, int64_t index) const { return ts::select(*this, d, index); }
Tensor Tensor::expand(const Shape& s) const { return ts::expand(*this, s); }
Tensor Tensor::squeeze() const { return ts::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return ts::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return ts::unsqueeze(*this, d); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return ts::flatten(*this, s, e); }
Tensor Tensor::contiguous() const { return ts::contiguous(*this); }
Tensor Tensor::clone() const { return identity_copy(*this, "clone"); }

Tensor& Tensor::copy_(const Tensor& src) {
  TS_CHECK(src.defined(), "copy_: source tensor is undefined");
  ops::check_inplace("copy_", *this, {&src});
  const Shape bshape = broadcast_shapes(this->shape(), src.shape(), "copy_");
  TS_CHECK(bshape == this->shape(), "copy_: source of shape {} cannot be broadcast to the destination shape {}",
           shape_str(src.shape()), shape_str(this->shape()));
  Tensor s = src.device() == device() ? src : src.detach().to(device());
  // A source overlapping the destination is copied out first, so no element is read after
  // it has been overwritten.
  if (s.storage() == storage() && !(s.strides() == strides() && s.storage_offset() == storage_offset())) s = ops::dense(s.clone().detach());
  backend_for(*this).copy(ops::broadcast_view(s, this->shape()), *this);
  storage()->bump_version();
  if (autograd::any_requires_grad({&src})) {
    autograd::record("copy_", {*this, src}, {*this},
                     [src_shape = src.shape(), src_dtype = src.dtype(), src_dev = src.device()](
                         const std::vector<Tensor>& g, const Node&) -> std::vector<Tensor> {
                       Tensor gs = autograd::sum_to(g[0], src_shape).to(src_dtype).to(src_dev);
                       return {Tensor(), gs};
                     });
  }
  return *this;
}

}  // namespace ts
