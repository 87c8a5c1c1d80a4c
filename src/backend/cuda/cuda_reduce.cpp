// CudaBackend's reductions: x becomes a (kept, reduced) pair of coalesced index spaces that
// kernels/reduce.cu walks with any strides (no contiguous copy first), plus a workspace when
// the plan splits long reductions across blocks.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/reduce.h"

namespace ts {
namespace {

static_assert(static_cast<int>(ReduceOp::Sum) == static_cast<int>(kernels::ReduceKind::Sum) &&
              static_cast<int>(ReduceOp::Mean) == static_cast<int>(kernels::ReduceKind::Mean) &&
              static_cast<int>(ReduceOp::Max) == static_cast<int>(kernels::ReduceKind::Max) &&
              static_cast<int>(ReduceOp::Min) == static_cast<int>(kernels::ReduceKind::Min) &&
              static_cast<int>(ReduceOp::Prod) == static_cast<int>(kernels::ReduceKind::Prod));

/// One dimension of an index space: its size and strides in x, the output and the indices.
struct Dim {
  int64_t size;
  std::array<int64_t, 3> strides;
};

/// Drops size-1 dims and merges each dim into the one outside it when every stride set
/// allows (outer stride == inner stride * inner size).
std::vector<Dim> coalesce(const std::vector<Dim>& dims) {
  std::vector<Dim> out;
  for (const Dim& d : dims) {
    if (d.size == 1) continue;
    if (!out.empty()) {
      Dim& prev = out.back();
      bool mergeable = true;
      for (size_t k = 0; k < 3; ++k) mergeable &= prev.strides[k] == d.strides[k] * d.size;
      if (mergeable) {
        prev.size *= d.size;
        prev.strides = d.strides;
        continue;
      }
    }
    out.push_back(d);
  }
  return out;
}

kernels::ReduceGeometry make_geometry(const char* op, const Shape& shape, const std::vector<Dim>& kept,
                                      const std::vector<Dim>& red) {
  TS_CHECK(kept.size() <= static_cast<size_t>(kernels::kMaxDims) && red.size() <= static_cast<size_t>(kernels::kMaxDims),
           "{}: shape {} with these strides needs {} kept and {} reduced dimensions after coalescing; CUDA "
           "kernels take at most {} of each",
           op, shape_str(shape), kept.size(), red.size(), kernels::kMaxDims);
  kernels::ReduceGeometry g;
  g.kept = 1;
  g.kept_ndim = static_cast<int>(kept.size());
  for (size_t d = 0; d < kept.size(); ++d) {
    g.kept *= kept[d].size;
    g.kept_sizes[d] = kept[d].size;
    for (size_t k = 0; k < 3; ++k) g.kept_strides[k][d] = kept[d].strides[k];
  }
  g.len = 1;
  g.red_ndim = static_cast<int>(red.size());
  for (size_t d = 0; d < red.size(); ++d) {
    g.len *= red[d].size;
    g.red_sizes[d] = red[d].size;
    g.red_strides[d] = red[d].strides[0];
  }
  return g;
}

/// Workspace for the plan's partial results (an empty tensor when it needs none); the
/// caching allocator orders its reuse after the kernels queued on the current stream.
Tensor workspace_for(const kernels::ReducePlan& plan, int dev) {
  if (plan.workspace_bytes == 0) return Tensor();
  return make_tensor({static_cast<int64_t>(plan.workspace_bytes)}, DType::UInt8, Device(DeviceType::CUDA, dev));
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const int dev = cuda_detail::common_device("reduce", {&x, &out});
  TS_CHECK(out.dtype() == x.dtype(), "reduce: output dtype {} differs from the input's {}", dtype_name(out.dtype()),
           dtype_name(x.dtype()));
  const int64_t nd = x.dim();
  std::vector<bool> reduced(static_cast<size_t>(nd), false);
  Shape expected = x.shape();
  for (int64_t d : dims) {
    TS_CHECK(d >= 0 && d < nd, "reduce: dim {} out of range for shape {}", d, shape_str(x.shape()));
    reduced[static_cast<size_t>(d)] = true;
    expected[static_cast<size_t>(d)] = 1;
  }
  TS_CHECK(out.shape() == expected, "reduce: output shape {} should be {} (input {} reduced over dims {})",
           shape_str(out.shape()), shape_str(expected), shape_str(x.shape()), dims);
  if (out.numel() == 0) return;

  std::vector<Dim> kept, red;
  for (int64_t d = 0; d < nd; ++d) {
    const auto i = static_cast<size_t>(d);
    if (reduced[i]) {
      red.push_back({x.shape()[i], {x.strides()[i], 0, 0}});
    } else {
      kept.push_back({x.shape()[i], {x.strides()[i], out.strides()[i], 0}});
    }
  }
  // Which element a reduction visits first does not matter: with the smallest stride
  // innermost, a transposed block coalesces into one unit-stride run the inner kernel reads.
  std::stable_sort(red.begin(), red.end(),
                   [](const Dim& a, const Dim& b) { return std::llabs(a.strides[0]) > std::llabs(b.strides[0]); });
  const kernels::ReduceGeometry g = make_geometry("reduce", x.shape(), coalesce(kept), coalesce(red));
  const kernels::ReducePlan plan = kernels::plan_reduce(g);

  cuda_detail::DeviceGuard guard(dev);
  const Tensor workspace = workspace_for(plan, dev);
  TS_CUDA_CHECK(kernels::reduce(static_cast<kernels::ReduceKind>(op), cuda_detail::scalar_type(x.dtype()),
                                x.raw_data(), out.raw_data(), g, plan,
                                workspace.defined() ? workspace.raw_data() : nullptr, cuda_detail::current_stream(dev)),
                "reduce");
}

void CudaBackend::arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, const Tensor& values, const Tensor& indices) {
  TS_CHECK(op == ReduceOp::Max || op == ReduceOp::Min, "arg_reduce: expected Max or Min, got op {}",
           static_cast<int>(op));
  const int dev = cuda_detail::common_device("arg_reduce", {&x, &values, &indices});
  const int64_t nd = x.dim();
  TS_CHECK(dim >= 0 && dim < nd, "arg_reduce: dim {} out of range for shape {}", dim, shape_str(x.shape()));
  TS_CHECK(values.dtype() == x.dtype() && indices.dtype() == DType::Int64,
           "arg_reduce: expected values of the input's dtype {} and int64 indices, got {} and {}",
           dtype_name(x.dtype()), dtype_name(values.dtype()), dtype_name(indices.dtype()));
  Shape expected = x.shape();
  expected[static_cast<size_t>(dim)] = 1;
  TS_CHECK(values.shape() == expected && indices.shape() == expected,
           "arg_reduce: values {} and indices {} should have shape {} (input {} reduced over dim {})",
           shape_str(values.shape()), shape_str(indices.shape()), shape_str(expected), shape_str(x.shape()), dim);
  const int64_t len = x.shape()[static_cast<size_t>(dim)];
  if (len == 0 || values.numel() == 0) return;  // nothing to write (the op layer rejects empty dims)

  std::vector<Dim> kept;
  for (int64_t d = 0; d < nd; ++d) {
    const auto i = static_cast<size_t>(d);
    if (d != dim) kept.push_back({x.shape()[i], {x.strides()[i], values.strides()[i], indices.strides()[i]}});
  }
  const auto di = static_cast<size_t>(dim);
  const std::vector<Dim> red = {{len, {x.strides()[di], 0, 0}}};
  const kernels::ReduceGeometry g = make_geometry("arg_reduce", x.shape(), coalesce(kept), coalesce(red));
  const kernels::ReducePlan plan = kernels::plan_reduce(g);

  cuda_detail::DeviceGuard guard(dev);
  const Tensor workspace = workspace_for(plan, dev);
  TS_CUDA_CHECK(kernels::arg_reduce(op == ReduceOp::Max, cuda_detail::scalar_type(x.dtype()), x.raw_data(),
                                    values.raw_data(), static_cast<int64_t*>(indices.raw_data()), g, plan,
                                    workspace.defined() ? workspace.raw_data() : nullptr,
                                    cuda_detail::current_stream(dev)),
                op == ReduceOp::Max ? "max" : "min");
}

}  // namespace ts
