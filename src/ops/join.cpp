// Joining and splitting: cat / stack copy into one new tensor (backward: slices of the
// gradient); split / chunk return views made with narrow, so their autograd is narrow's.
#include "ops/op_utils.h"

namespace ts {
using autograd::Node;

namespace {

// PyTorch still accepts (and skips) 1-d empty tensors in cat whatever the other shapes are.
bool legacy_empty(const Tensor& t) { return t.dim() == 1 && t.numel() == 0; }

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim_in) {
  constexpr const char* op = "cat";
  TS_CHECK(!tensors.empty(), "{}: expected a non-empty list of tensors", op);
  const Tensor* ref = nullptr;  // first tensor that takes part in the shape checks
  size_t ref_pos = 0;
  DType dtype = tensors[0].dtype();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    TS_CHECK(t.defined(), "{}: tensor {} is undefined", op, i);
    TS_CHECK(t.dim() > 0, "{}: zero-dimensional tensor (at position {}) cannot be concatenated", op, i);
    TS_CHECK(t.device() == tensors[0].device(), "{}: expected all tensors on one device, but tensor 0 is on {} and tensor {} on {}",
             op, tensors[0].device().str(), i, t.device().str());
    dtype = promote_types(dtype, t.dtype());
    if (!ref && !legacy_empty(t)) {
      ref = &t;
      ref_pos = i;
    }
  }
  if (!ref) {  // only legacy empties: the result is one too
    return make_tensor({0}, dtype, tensors[0].device());
  }
  const int64_t dim = wrap_dim(dim_in, ref->dim(), op);
  Shape shape = ref->shape();
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (legacy_empty(t)) continue;
    TS_CHECK(t.dim() == ref->dim(),
             "{}: tensors must have the same number of dimensions, but tensor {} has shape {} and tensor {} has shape {}",
             op, ref_pos, shape_str(ref->shape()), i, shape_str(t.shape()));
    for (int64_t d = 0; d < t.dim(); ++d) {
      TS_CHECK(d == dim || t.shape()[static_cast<size_t>(d)] == shape[static_cast<size_t>(d)],
               "{}: sizes of tensors must match except in dimension {}, but tensor {} has shape {} and tensor {} has "
               "shape {} (mismatch in dimension {})",
               op, dim, ref_pos, shape_str(ref->shape()), i, shape_str(t.shape()), d);
    }
    total += t.shape()[static_cast<size_t>(dim)];
  }
  shape[static_cast<size_t>(dim)] = total;
  Tensor out = make_tensor(shape, dtype, ref->device());
  Backend& be = backend_for(out);
  std::vector<int64_t> offsets(tensors.size(), 0);
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    offsets[i] = offset;
    if (legacy_empty(t)) continue;
    const int64_t len = t.shape()[static_cast<size_t>(dim)];
    if (t.numel() > 0) {
      Shape part = shape;
      part[static_cast<size_t>(dim)] = len;
      // `copy` converts dtypes, so promoted inputs need no separate cast.
      be.copy(t, make_view(out, part, out.strides(), offset * out.strides()[static_cast<size_t>(dim)]));
    }
    offset += len;
  }
  if (autograd::any_requires_grad(tensors)) {
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
    for (const auto& t : tensors) {
      shapes.push_back(t.shape());
      dtypes.push_back(t.dtype());
    }
    autograd::record(op, tensors, {out},
                     [dim, offsets, shapes, dtypes](const std::vector<Tensor>& g, const Node& self) {
                       std::vector<Tensor> grads(shapes.size());
                       for (size_t i = 0; i < shapes.size(); ++i) {
                         if (!self.needs_input_grad(i)) continue;
                         if (shapes[i] == Shape{0}) {  // a skipped legacy empty
                           grads[i] = zeros(shapes[i], TensorOptions(dtypes[i]).with_device(g[0].device()));
                           continue;
                         }
                         const Tensor part = g[0].narrow(dim, offsets[i], shapes[i][static_cast<size_t>(dim)]);
                         grads[i] = ops::cast(part, dtypes[i]);
                       }
                       return grads;
                     });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim_in) {
  constexpr const char* op = "stack";
  TS_CHECK(!tensors.empty(), "{}: expected a non-empty list of tensors", op);
  for (size_t i = 0; i < tensors.size(); ++i) {
    TS_CHECK(tensors[i].defined(), "{}: tensor {} is undefined", op, i);
    TS_CHECK(tensors[i].shape() == tensors[0].shape(),
             "{}: expects each tensor to be equal size, but tensor 0 has shape {} and tensor {} has shape {}", op,
             shape_str(tensors[0].shape()), i, shape_str(tensors[i].shape()));
  }
  const int64_t dim = wrap_dim(dim_in, tensors[0].dim() + 1, op);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const auto& t : tensors) parts.push_back(unsqueeze(t, dim));
  return cat(parts, dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim_in) {
  constexpr const char* op = "split";
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(x.dim() > 0, "{}: expected a tensor with at least one dimension", op);
  const int64_t dim = wrap_dim(dim_in, x.dim(), op);
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  TS_CHECK(split_size > 0 || (split_size == 0 && n == 0),
           "{}: split_size must be positive (0 only for a dimension of size 0), got {} for dimension {} of size {}",
           op, split_size, dim, n);
  const int64_t pieces = n == 0 ? 1 : (n + split_size - 1) / split_size;
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(pieces));
  for (int64_t i = 0; i < pieces; ++i) {
    const int64_t start = i * split_size;
    out.push_back(x.narrow(dim, start, std::min(split_size, n - start)));
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim_in) {
  constexpr const char* op = "split";
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(x.dim() > 0, "{}: expected a tensor with at least one dimension", op);
  const int64_t dim = wrap_dim(dim_in, x.dim(), op);
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  int64_t sum = 0;
  for (auto s : split_sizes) {
    TS_CHECK(s >= 0, "{}: split_sizes [{}] contain a negative size", op, fmt::join(split_sizes, ", "));
    sum += s;
  }
  TS_CHECK(sum == n, "{}: split_sizes [{}] sum to {} but dimension {} of the input (shape {}) has size {}", op,
           fmt::join(split_sizes, ", "), sum, dim, shape_str(x.shape()), n);
  std::vector<Tensor> out;
  out.reserve(split_sizes.size());
  int64_t start = 0;
  for (auto s : split_sizes) {
    out.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim_in) {
  constexpr const char* op = "chunk";
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(x.dim() > 0, "{}: expected a tensor with at least one dimension", op);
  TS_CHECK(chunks > 0, "{}: number of chunks must be positive, got {}", op, chunks);
  const int64_t dim = wrap_dim(dim_in, x.dim(), op);
  const int64_t n = x.shape()[static_cast<size_t>(dim)];
  // An empty dim still yields `chunks` empty pieces (PyTorch); otherwise pieces of ceil(n/chunks).
  if (n == 0) return split(x, std::vector<int64_t>(static_cast<size_t>(chunks), 0), dim);
  return split(x, (n + chunks - 1) / chunks, dim);
}

}  // namespace ts
