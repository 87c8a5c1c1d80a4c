// Batched GEMM through Eigen. Strided operands are mapped without copying when one of their
// two inner strides is 1 (row- or column-major); Eigen's GEMM handles either storage order.
#include <Eigen/Core>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

template <typename T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T> using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <typename M> using ConstMap = Eigen::Map<const M, Eigen::Unaligned, Eigen::OuterStride<>>;

// How a (batch, rows, cols) view can be handed to Eigen without a copy.
enum class Layout { RowMajor, ColMajor, NeedsCopy };

Layout layout_of(const Tensor& t) {
  const int64_t rows = t.shape()[1], cols = t.shape()[2], rs = t.strides()[1], cs = t.strides()[2];
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) return Layout::RowMajor;
  if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) return Layout::ColMajor;
  return Layout::NeedsCopy;
}

// Calls fn(eigen_map) for matrix `b` of the (batch, rows, cols) view `t` (never NeedsCopy).
template <typename T, typename Fn> void with_matrix(const Tensor& t, int64_t b, Fn&& fn) {
  const T* base = static_cast<const T*>(t.raw_data()) + b * t.strides()[0];
  const int64_t rows = t.shape()[1], cols = t.shape()[2];
  if (layout_of(t) == Layout::RowMajor) {
    fn(ConstMap<RowMat<T>>(base, rows, cols, Eigen::OuterStride<>(rows == 1 ? cols : t.strides()[1])));
  } else {
    fn(ConstMap<ColMat<T>>(base, rows, cols, Eigen::OuterStride<>(cols == 1 ? rows : t.strides()[2])));
  }
}

template <typename T> void matmul_typed(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t batch = out.shape()[0], m = out.shape()[1], n = out.shape()[2], k = a.shape()[2];
  auto one = [&](int64_t i) {
    Eigen::Map<RowMat<T>> c(static_cast<T*>(out.raw_data()) + i * m * n, m, n);
    if (k == 0) {
      c.setZero();
      return;
    }
    with_matrix<T>(a, i, [&](const auto& am) { with_matrix<T>(b, i, [&](const auto& bm) { c.noalias() = am * bm; }); });
  };
  // Small matrices in a batch: one thread per matrix. Large ones: Eigen's own threading.
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (batch > 1 && flops < 4e6) {
    parallel_for(0, batch, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

}  // namespace

void CpuBackend::matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  Tensor a = cpu::widen_half(a_in), b = cpu::widen_half(b_in);
  if (layout_of(a) == Layout::NeedsCopy) a = cpu::dense(a);
  if (layout_of(b) == Layout::NeedsCopy) b = cpu::dense(b);
  const Tensor o = cpu::float_scratch_for(out);
  TS_DISPATCH_FLOATING(a.dtype(), "matmul", [&] { matmul_typed<scalar_t>(a, b, o); });
  cpu::narrow_into(o, out);
}

}  // namespace ts
