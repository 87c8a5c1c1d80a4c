// CPU indexing kernels: index_select / index_add along one dim, gather / scatter_add.
// Tensors are viewed as (outer, dim, inner). Accumulating kernels never split the work over
// indices (duplicates would race): each task owns a disjoint set of destination elements and
// walks all indices in order, so results are also deterministic.
#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

struct Geometry {
  int64_t outer = 1, n = 1, inner = 1;
};

Geometry geometry_of(const Shape& s, int64_t dim) {
  Geometry g;
  for (int64_t d = 0; d < dim; ++d) g.outer *= s[static_cast<size_t>(d)];
  g.n = s[static_cast<size_t>(dim)];
  for (size_t d = static_cast<size_t>(dim) + 1; d < s.size(); ++d) g.inner *= s[d];
  return g;
}

// Pure data movement only depends on the element size, so one instantiation per width serves
// every dtype (float16, bool, ...).
template <typename F> void dispatch_by_size(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: f.template operator()<uint8_t>(); return;
    case 2: f.template operator()<uint16_t>(); return;
    case 4: f.template operator()<uint32_t>(); return;
    case 8: f.template operator()<uint64_t>(); return;
    default: TS_ERROR("indexing: unsupported element size {}", bytes);
  }
}

template <typename T> inline void accumulate(T& dst, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    dst = dst || v;
  } else {
    dst = static_cast<T>(dst + v);
  }
}

int64_t grain_for(int64_t row) { return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(row, 1)); }

// Splits [0, len) into `blocks` near-equal ranges; returns block b.
std::pair<int64_t, int64_t> block_range(int64_t len, int64_t blocks, int64_t b) {
  return {len * b / blocks, len * (b + 1) / blocks};
}

// Walks the "lines" of an index tensor: every coordinate with `dim` removed. For each line,
// body(offsets) gets the element offset of that line's start in each operand; the caller then
// steps along `dim` with each operand's own stride. Used when shapes differ outside `dim`
// (PyTorch allows index to be smaller than the other operands there).
template <size_t N, typename Body>
void for_each_line(const Shape& index_shape, int64_t dim, const std::array<const Tensor*, N>& ops, Body&& body) {
  Shape sizes;
  std::array<Strides, N> st;
  for (size_t d = 0; d < index_shape.size(); ++d) {
    if (static_cast<int64_t>(d) == dim) continue;
    sizes.push_back(index_shape[d]);
    for (size_t k = 0; k < N; ++k) st[k].push_back(ops[k]->strides()[d]);
  }
  const int64_t lines = numel_of(sizes);
  const int64_t len = index_shape[static_cast<size_t>(dim)];
  const size_t nd = sizes.size();
  parallel_for(0, lines, grain_for(len), [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> c(nd, 0);
    std::array<int64_t, N> off{};
    int64_t rem = lo;
    for (size_t d = nd; d-- > 0;) {
      c[d] = rem % sizes[d];
      rem /= sizes[d];
      for (size_t k = 0; k < N; ++k) off[k] += c[d] * st[k][d];
    }
    for (int64_t l = lo; l < hi; ++l) {
      body(off);
      for (size_t d = nd; d-- > 0;) {  // odometer increment, offsets follow along
        ++c[d];
        for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
        if (c[d] < sizes[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= c[d] * st[k][d];
        c[d] = 0;
      }
    }
  });
}

// True when `index` matches `other` in every dim except `dim` and both are contiguous, so
// both are plain (outer, n, inner) blocks.
bool same_outside_dim(const Tensor& index, const Tensor& other, int64_t dim) {
  if (!index.is_contiguous() || !other.is_contiguous() || index.dim() != other.dim()) return false;
  for (int64_t d = 0; d < index.dim(); ++d)
    if (d != dim && index.shape()[static_cast<size_t>(d)] != other.shape()[static_cast<size_t>(d)]) return false;
  return true;
}

}  // namespace

void CpuBackend::index_select(const Tensor& x_in, int64_t dim, const Tensor& index_in, const Tensor& out) {
  TS_CHECK(out.is_contiguous(), "index_select: expected a contiguous output");
  const Tensor x = cpu::dense(x_in);
  const Tensor index = cpu::dense(index_in);
  const Geometry g = geometry_of(x.shape(), dim);
  const int64_t n = index.numel();
  if (out.numel() == 0) return;
  const auto* ip = static_cast<const int64_t*>(index.raw_data());
  dispatch_by_size(x.element_size(), [&]<typename E>() {
    const E* src = static_cast<const E*>(x.raw_data());
    E* dst = static_cast<E*>(out.raw_data());
    const int64_t inner = g.inner, D = g.n;
    parallel_for(0, g.outer * n, grain_for(inner), [&](int64_t lo, int64_t hi) {
      int64_t o = lo / n, j = lo % n;
      for (int64_t t = lo; t < hi; ++t) {
        const E* s = src + (o * D + ip[j]) * inner;
        E* d = dst + t * inner;
        if (inner == 1) {
          *d = *s;
        } else {
          std::copy_n(s, inner, d);
        }
        if (++j == n) {
          j = 0;
          ++o;
        }
      }
    });
  });
}

void CpuBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  TS_CHECK(out.is_contiguous(), "index_add: expected a contiguous output");
  const Tensor acc = cpu::widen_half(out);  // float16/bfloat16 accumulate in a float32 copy
  const Tensor src = cpu::dense(cpu::widen_half(src_in));
  const Tensor index = cpu::dense(index_in);
  const Geometry g = geometry_of(acc.shape(), dim);
  const int64_t n = index.numel();
  if (n == 0 || acc.numel() == 0) return;
  const auto* ip = static_cast<const int64_t*>(index.raw_data());
  TS_DISPATCH_COMPUTE(acc.dtype(), "index_add", [&] {
    using T = scalar_t;
    T* dst = static_cast<T*>(acc.raw_data());
    const T* sp = static_cast<const T*>(src.raw_data());
    const int64_t D = g.n, inner = g.inner, outer = g.outer;
    // Tasks are (outer row, block of destination rows along dim, block of columns); a task adds
    // only the source rows whose index falls in its destination block.
    const int64_t want = 4 * static_cast<int64_t>(get_num_threads());
    const bool small = outer * n * inner <= cpu::kGrain;
    const int64_t iblocks = small ? 1 : std::clamp<int64_t>(inner / 1024, 1, want);
    const int64_t dblocks = small ? 1 : std::clamp<int64_t>((want + outer * iblocks - 1) / (outer * iblocks), 1, D);
    parallel_for(0, outer * dblocks * iblocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t o = t / (dblocks * iblocks), db = (t / iblocks) % dblocks, ib = t % iblocks;
        const auto [d0, d1] = block_range(D, dblocks, db);
        const auto [i0, i1] = block_range(inner, iblocks, ib);
        T* base = dst + o * D * inner;
        const T* sbase = sp + o * n * inner;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t d = ip[j];
          if (d < d0 || d >= d1) continue;
          T* row = base + d * inner;
          const T* srow = sbase + j * inner;
          for (int64_t i = i0; i < i1; ++i) accumulate(row[i], srow[i]);
        }
      }
    });
  });
  cpu::narrow_into(acc, out);
}

void CpuBackend::gather(const Tensor& x_in, int64_t dim, const Tensor& index_in, const Tensor& out) {
  TS_CHECK(out.is_contiguous(), "gather: expected a contiguous output");
  if (out.numel() == 0) return;
  const Tensor x = cpu::dense(x_in);
  const Tensor index = cpu::dense(index_in);
  const auto* ip = static_cast<const int64_t*>(index.raw_data());
  const int64_t D = x.shape()[static_cast<size_t>(dim)];
  dispatch_by_size(x.element_size(), [&]<typename E>() {
    const E* src = static_cast<const E*>(x.raw_data());
    E* dst = static_cast<E*>(out.raw_data());
    if (same_outside_dim(index, x, dim)) {
      const Geometry g = geometry_of(index.shape(), dim);
      const int64_t inner = g.inner, n = g.n;
      parallel_for(0, g.outer * n, grain_for(inner), [&](int64_t lo, int64_t hi) {
        for (int64_t t = lo; t < hi; ++t) {
          const E* s = src + (t / n) * D * inner;
          const int64_t* it = ip + t * inner;
          E* d = dst + t * inner;
          for (int64_t i = 0; i < inner; ++i) d[i] = s[it[i] * inner + i];
        }
      });
      return;
    }
    const int64_t os = out.strides()[static_cast<size_t>(dim)], is = index.strides()[static_cast<size_t>(dim)];
    const int64_t xs = x.strides()[static_cast<size_t>(dim)];
    const int64_t len = index.shape()[static_cast<size_t>(dim)];
    for_each_line<3>(index.shape(), dim, {&out, &index, &x}, [&](const std::array<int64_t, 3>& off) {
      for (int64_t j = 0; j < len; ++j) dst[off[0] + j * os] = src[off[2] + ip[off[1] + j * is] * xs];
    });
  });
}

void CpuBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  TS_CHECK(out.is_contiguous(), "scatter_add: expected a contiguous output");
  if (index_in.numel() == 0) return;
  const Tensor acc = cpu::widen_half(out);
  const Tensor src = cpu::dense(cpu::widen_half(src_in));
  const Tensor index = cpu::dense(index_in);
  const auto* ip = static_cast<const int64_t*>(index.raw_data());
  const int64_t D = acc.shape()[static_cast<size_t>(dim)];
  TS_DISPATCH_COMPUTE(acc.dtype(), "scatter_add", [&] {
    using T = scalar_t;
    T* dst = static_cast<T*>(acc.raw_data());
    const T* sp = static_cast<const T*>(src.raw_data());
    if (same_outside_dim(index, acc, dim) && index.shape() == src.shape()) {
      // Tasks own (outer row, column block) pairs: every write of a task stays in its columns.
      const Geometry g = geometry_of(index.shape(), dim);
      const int64_t inner = g.inner, n = g.n, outer = g.outer;
      const int64_t want = 4 * static_cast<int64_t>(get_num_threads());
      const int64_t iblocks =
          outer >= want ? 1 : std::clamp<int64_t>(want / outer, 1, std::max<int64_t>(1, inner / 64));
      parallel_for(0, outer * iblocks, grain_for(n * inner / iblocks), [&](int64_t lo, int64_t hi) {
        for (int64_t t = lo; t < hi; ++t) {
          const int64_t o = t / iblocks;
          const auto [i0, i1] = block_range(inner, iblocks, t % iblocks);
          T* base = dst + o * D * inner;
          for (int64_t j = 0; j < n; ++j) {
            const int64_t r = (o * n + j) * inner;
            for (int64_t i = i0; i < i1; ++i) accumulate(base[ip[r + i] * inner + i], sp[r + i]);
          }
        }
      });
      return;
    }
    // Distinct lines (coordinates outside `dim`) write distinct lines of the output.
    const int64_t os = acc.strides()[static_cast<size_t>(dim)], is = index.strides()[static_cast<size_t>(dim)];
    const int64_t ss = src.strides()[static_cast<size_t>(dim)];
    const int64_t len = index.shape()[static_cast<size_t>(dim)];
    for_each_line<3>(index.shape(), dim, {&acc, &index, &src}, [&](const std::array<int64_t, 3>& off) {
      for (int64_t j = 0; j < len; ++j) accumulate(dst[off[0] + ip[off[1] + j * is] * os], sp[off[2] + j * ss]);
    });
  });
  cpu::narrow_into(acc, out);
}

}  // namespace ts
