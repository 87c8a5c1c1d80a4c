// Indexing ops: index_select, gather, scatter_add, one_hot. The op layer validates shapes,
// dtypes and index ranges (kernels trust them) and records the backward: index_select's
// is an index_add, gather's a scatter_add, scatter_add's a gather.
#include "ops/index_check.h"
#include "ops/op_utils.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace ops {

std::pair<int64_t, int64_t> index_min_max(const Tensor& index) {
  if (!index.is_cpu()) {
    NoGradGuard no_grad;
    return {min(index).item<int64_t>(), max(index).item<int64_t>()};
  }
  const Tensor d = dense(index);
  const auto* p = static_cast<const int64_t*>(d.raw_data());
  int64_t lo = p[0], hi = p[0];
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < d.numel(); ++i) {
    lo = p[i] < lo ? p[i] : lo;
    hi = p[i] > hi ? p[i] : hi;
  }
  return {lo, hi};
}

void check_index_range(const char* op, const Tensor& index, int64_t size, const std::string& what) {
  if (index.numel() == 0) return;
  const auto [lo, hi] = index_min_max(index);
  TS_CHECK(lo >= 0 && hi < size, "{}: index {} is out of range for {} (valid range [0, {}])", op, lo < 0 ? lo : hi,
           what, size - 1);
}

}  // namespace ops

namespace {

std::string dim_desc(int64_t dim, int64_t size) { return fmt::format("dimension {} of size {}", dim, size); }

// A 0-d tensor as a 1-element vector (no autograd), so kernels always see dim >= 1.
Tensor as_vector(const Tensor& t) { return t.dim() == 0 ? make_view(t, {1}, {1}, t.storage_offset()) : t; }

Tensor zeros_of(const Shape& shape, DType dtype, Device device) {
  return zeros(shape, TensorOptions(dtype).with_device(device));
}

// index.size(d) <= other.size(d) for every d (except `skip`, when >= 0), PyTorch's rule.
void check_index_fits(const char* op, const Tensor& index, const Tensor& other, int64_t skip, const char* what) {
  for (int64_t d = 0; d < index.dim(); ++d) {
    if (d == skip) continue;
    TS_CHECK(index.shape()[static_cast<size_t>(d)] <= other.shape()[static_cast<size_t>(d)],
             "{}: index of shape {} is larger than {} of shape {} in dimension {}{}", op, shape_str(index.shape()),
             what, shape_str(other.shape()), d, skip >= 0 ? fmt::format(" (only dimension {} may differ)", skip) : "");
  }
}

// Common argument checks of gather / scatter_add; returns the wrapped dim.
int64_t check_gather_args(const char* op, const Tensor& x, const Tensor& index, int64_t dim_in) {
  TS_CHECK(x.defined() && index.defined(), "{}: input tensor is undefined", op);
  ops::check_index_dtype(op, index);
  ops::check_same_device(op, {&x, &index});
  TS_CHECK(index.dim() == x.dim() || (x.dim() <= 1 && index.dim() <= 1),
           "{}: index must have as many dimensions as the input, but index has shape {} and input has shape {}", op,
           shape_str(index.shape()), shape_str(x.shape()));
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x.dim(), 1), op);
  const Tensor xv = as_vector(x), iv = as_vector(index);
  check_index_fits(op, iv, xv, dim, "input");
  const int64_t size = xv.shape()[static_cast<size_t>(dim)];
  ops::check_index_range(op, index, size, dim_desc(dim, size));
  return dim;
}

// gather without autograd; x and index as kernels expect them (dim >= 1), output contiguous.
Tensor gather_raw(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = make_tensor(index.shape(), x.dtype(), x.device());
  backend_for(x).gather(x, dim, index, out);
  return out;
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  constexpr const char* op = "index_select";
  TS_CHECK(x.defined() && index.defined(), "{}: input tensor is undefined", op);
  ops::check_index_dtype(op, index);
  ops::check_same_device(op, {&x, &index});
  TS_CHECK(index.dim() <= 1, "{}: index must be a vector (0-d or 1-d) but has shape {}", op, shape_str(index.shape()));
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x.dim(), 1), op);
  const Tensor xv = as_vector(x), iv = as_vector(index);
  const int64_t size = xv.shape()[static_cast<size_t>(dim)];
  ops::check_index_range(op, index, size, dim_desc(dim, size));
  Shape shape = xv.shape();
  shape[static_cast<size_t>(dim)] = iv.numel();
  // A 0-d input indexed by a 0-d index stays 0-d (PyTorch); otherwise dim keeps its place.
  Tensor out = make_tensor(x.dim() == 0 && index.dim() == 0 ? Shape{} : shape, x.dtype(), x.device());
  backend_for(x).index_select(ops::dense(xv), dim, iv, as_vector(out));
  if (autograd::any_requires_grad({&x})) {
    autograd::record(op, {x}, {out}, [dim, iv, xshape = x.shape(), shape](const std::vector<Tensor>& g, const Node&) {
      Tensor gx = zeros_of(xshape, g[0].dtype(), g[0].device());
      const Tensor gd = ops::dense(g[0]);
      backend_for(gx).index_add(as_vector(gx), dim, iv, make_view(gd, shape, contiguous_strides(shape), gd.storage_offset()));
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  const int64_t dim = check_gather_args("gather", x, index, dim_in);
  const Tensor iv = as_vector(index);
  Tensor out = make_tensor(index.shape(), x.dtype(), x.device());
  backend_for(x).gather(as_vector(x), dim, iv, as_vector(out));
  if (autograd::any_requires_grad({&x})) {
    autograd::record("gather", {x}, {out}, [dim, iv, xshape = x.shape()](const std::vector<Tensor>& g, const Node&) {
      Tensor gx = zeros_of(xshape, g[0].dtype(), g[0].device());
      const Tensor gd = ops::dense(g[0]);
      const Tensor gv = make_view(gd, iv.shape(), contiguous_strides(iv.shape()), gd.storage_offset());
      backend_for(gx).scatter_add(as_vector(gx), dim, iv, gv);
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim_in, const Tensor& index, const Tensor& src) {
  constexpr const char* op = "scatter_add";
  TS_CHECK(src.defined(), "{}: src tensor is undefined", op);
  ops::check_same_device(op, {&x, &src});
  TS_CHECK(src.dtype() == x.dtype(), "{}: expected src of dtype {} (the input's) but got {}", op,
           dtype_name(x.dtype()), dtype_name(src.dtype()));
  TS_CHECK(src.dim() == x.dim() || (x.dim() <= 1 && src.dim() <= 1),
           "{}: src must have as many dimensions as the input, but src has shape {} and input has shape {}", op,
           shape_str(src.shape()), shape_str(x.shape()));
  const int64_t dim = check_gather_args(op, x, index, dim_in);
  const Tensor iv = as_vector(index), sv = as_vector(src);
  check_index_fits(op, iv, sv, -1, "src");
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  backend_for(x).copy(x, out);
  backend_for(x).scatter_add(as_vector(out), dim, iv, sv);
  if (autograd::any_requires_grad({&x, &src})) {
    autograd::record(op, {x, src}, {out}, [dim, iv, sshape = src.shape()](const std::vector<Tensor>& g, const Node& self) {
      Tensor gsrc;
      if (self.needs_input_grad(1)) {
        // src elements the index does not cover (index may be smaller) get zero gradient.
        gsrc = zeros_of(sshape, g[0].dtype(), g[0].device());
        const Tensor sv_grad = as_vector(gsrc);
        const Tensor covered = make_view(sv_grad, iv.shape(), sv_grad.strides(), 0);
        if (covered.shape() == sv_grad.shape()) {
          backend_for(gsrc).gather(as_vector(g[0]), dim, iv, sv_grad);
        } else {
          backend_for(gsrc).copy(gather_raw(as_vector(g[0]), dim, iv), covered);
        }
      }
      return std::vector<Tensor>{g[0], gsrc};
    });
  }
  return out;
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  constexpr const char* op = "one_hot";
  TS_CHECK(indices.defined(), "{}: input tensor is undefined", op);
  ops::check_index_dtype(op, indices);
  TS_CHECK(num_classes >= -1, "{}: num_classes must be -1 (infer) or non-negative, got {}", op, num_classes);
  if (num_classes == -1) {
    TS_CHECK(indices.numel() > 0, "{}: cannot infer num_classes from an empty tensor of shape {}", op,
             shape_str(indices.shape()));
    num_classes = ops::index_min_max(indices).second + 1;
  }
  ops::check_index_range(op, indices, num_classes, fmt::format("num_classes {}", num_classes));
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  Tensor out = zeros_of(shape, DType::Int64, indices.device());
  if (indices.numel() == 0) return out;
  // Scatter ones along the new last dim: index and src are indices viewed as (..., 1).
  const Tensor dense_idx = ops::dense(indices);
  Shape ishape = indices.shape();
  ishape.push_back(1);
  const Tensor idx = make_view(dense_idx, ishape, contiguous_strides(ishape), dense_idx.storage_offset());
  const Tensor ones_src = ones(ishape, TensorOptions(DType::Int64).with_device(indices.device()));
  backend_for(out).scatter_add(out, static_cast<int64_t>(ishape.size()) - 1, idx, ones_src);
  return out;
}

}  // namespace ts
