// Layer norm and batch norm kernels. The formulas, their order of operations and the types
// of every intermediate follow src/backend/cpu/cpu_norm.cpp; results are deterministic (no
// float atomics: partial sums are combined in a fixed order).
//  * layer_norm: one warp per row up to kMaxWarpRow elements, one block per row above; two
//    passes over the row in acc_t (mean of x - x[0], then squared deviations), a third writes y. The
//    backward's weight/bias gradients are column sums over rows: 32 x kColRows blocks own 32
//    columns of a range of rows and write double partial sums, which a second kernel adds
//    up in split order.
//  * batch_norm views x as (N, C, S). Per-channel sums accumulate in double, like the CPU's,
//    in one of two layouts: "planes" (S >= kMinPlane: blocks own a channel and a range of its
//    N*S elements, walking the contiguous S runs) or "columns" (small S, e.g. (N, C) inputs:
//    x read as an (N, C*S) matrix whose columns 32-thread rows walk, coalesced). Either way
//    each channel ends with P partial sums, which one warp per channel adds up; a per-channel
//    kernel then derives the statistics and the affine coefficients, and an elementwise
//    kernel applies them.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/norm.h"
#include "kernels/row_norm_layout.cuh"

namespace ts::kernels {
namespace {

using namespace row_norm;  // NOLINT(google-build-using-namespace): the shared launch layout
constexpr int64_t kMinPlane = 32;
constexpr int64_t kMinPlaneChunk = 4096;  // elements of one channel a plane block takes at least

// ---- kernels: layer norm ----------------------------------------------------------------------

template <typename T, bool kWarpRows>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  double eps, int64_t rows, int64_t d, T* __restrict__ y, acc_t<T>* __restrict__ mean,
                                  acc_t<T>* __restrict__ rstd) {
  using A = acc_t<T>;
  __shared__ A shared[kWarp];
  const RowGroups<kWarpRows> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const T* xr = x + row * d;
    // Summing x - x[0] keeps a float32 mean accurate when |mean| >> std (the CPU sums in double).
    const A shift = d > 0 ? load_acc(xr) : A(0);
    A s = 0;
    for (int64_t j = g.lane; j < d; j += g.size) s += load_acc(xr + j) - shift;
    s = group_sum<kWarpRows>(s, shared);
    const A m = d > 0 ? shift + s / static_cast<A>(d) : A(0);
    A q = 0;
    for (int64_t j = g.lane; j < d; j += g.size) {
      const A dev = load_acc(xr + j) - m;
      q += dev * dev;
    }
    q = group_sum<kWarpRows>(q, shared);
    const A var = d > 0 ? q / static_cast<A>(d) : A(0);
    const A rs = static_cast<A>(1.0 / sqrt(static_cast<double>(var) + eps));
    if (g.lane == 0) {
      mean[row] = m;
      rstd[row] = rs;
    }
    T* yr = y + row * d;
    for (int64_t j = g.lane; j < d; j += g.size) {
      A v = (load_acc(xr + j) - m) * rs;
      if (w) v *= load_acc(w + j);
      if (b) v += load_acc(b + j);
      store_acc(yr + j, v);
    }
  }
}

// grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)) per row, with g = grad_y * w.
template <typename T, bool kWarpRows>
__global__ void layer_norm_backward_kernel(const T* __restrict__ gy, const T* __restrict__ x,
                                           const acc_t<T>* __restrict__ mean, const acc_t<T>* __restrict__ rstd,
                                           const T* __restrict__ w, int64_t rows, int64_t d, T* __restrict__ gx) {
  using A = acc_t<T>;
  __shared__ A shared[kWarp];
  const RowGroups<kWarpRows> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const T* gr = gy + row * d;
    const T* xr = x + row * d;
    const A m = mean[row], rs = rstd[row];
    A sg = 0, sgx = 0;
    for (int64_t j = g.lane; j < d; j += g.size) {
      A gj = load_acc(gr + j);
      if (w) gj *= load_acc(w + j);
      sg += gj;
      sgx += gj * (load_acc(xr + j) - m);
    }
    sg = group_sum<kWarpRows>(sg, shared);
    sgx = group_sum<kWarpRows>(sgx, shared);
    const A a = sg / static_cast<A>(d);
    const A c = sgx * rs / static_cast<A>(d);
    T* out = gx + row * d;
    for (int64_t j = g.lane; j < d; j += g.size) {
      A gj = load_acc(gr + j);
      if (w) gj *= load_acc(w + j);
      store_acc(out + j, rs * (gj - a - (load_acc(xr + j) - m) * rs * c));
    }
  }
}

// Block (blockIdx.x, blockIdx.y) sums columns [32 * blockIdx.x, +32) over its range of rows:
// part_w[split][j] = sum grad_y * xhat, part_b[split][j] = sum grad_y.
template <typename T>
__global__ void layer_norm_param_partials(const T* __restrict__ gy, const T* __restrict__ x,
                                          const acc_t<T>* __restrict__ mean, const acc_t<T>* __restrict__ rstd,
                                          int64_t rows, int64_t d, double* __restrict__ part_w,
                                          double* __restrict__ part_b) {
  using A = acc_t<T>;
  __shared__ double sw[kColRows][kWarp], sb[kColRows][kWarp];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  const int64_t split = blockIdx.y, per = ceil_div(rows, gridDim.y);
  const int64_t r0 = split * per, r1 = r0 + per < rows ? r0 + per : rows;
  double aw = 0, ab = 0;
  if (j < d) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kColRows) {
      const A g = load_acc(gy + r * d + j);
      const A xhat = (load_acc(x + r * d + j) - mean[r]) * rstd[r];
      aw += static_cast<double>(g) * static_cast<double>(xhat);
      ab += static_cast<double>(g);
    }
  }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && j < d) {
    for (int r = 1; r < kColRows; ++r) {
      aw += sw[r][threadIdx.x];
      ab += sb[r][threadIdx.x];
    }
    part_w[split * d + j] = aw;
    part_b[split * d + j] = ab;
  }
}

template <typename T>
__global__ void layer_norm_param_finish(const double* __restrict__ part_w, const double* __restrict__ part_b,
                                        int64_t splits, int64_t d, T* __restrict__ gw, T* __restrict__ gb) {
  using A = acc_t<T>;
  for (int64_t j = global_thread_index(); j < d; j += grid_stride()) {
    double sw = 0, sb = 0;
    for (int64_t s = 0; s < splits; ++s) {
      sw += part_w[s * d + j];
      sb += part_b[s * d + j];
    }
    if (gw) store_acc(gw + j, static_cast<A>(sw));
    if (gb) store_acc(gb + j, static_cast<A>(sb));
  }
}

// ---- kernels: batch norm ----------------------------------------------------------------------

enum class BnSum {
  Mean,      // a = sum x
  SqDev,     // a = sum (x - center)^2
  Backward,  // a = sum grad_y, b = sum grad_y * (x - center)
};

template <BnSum kMode>
__device__ __forceinline__ void bn_accumulate(double& a, double& b, double x, double g, double center) {
  if constexpr (kMode == BnSum::Mean) {
    a += x;
  } else if constexpr (kMode == BnSum::SqDev) {
    const double dev = x - center;
    a += dev * dev;
  } else {
    a += g;
    b += g * (x - center);
  }
}

template <BnSum kMode, typename T> __device__ __forceinline__ double grad_at(const T* gy, int64_t i) {
  if constexpr (kMode == BnSum::Backward) {
    return static_cast<double>(load_acc(gy + i));
  } else {
    return 0.0;
  }
}

template <typename C> __device__ __forceinline__ double center_of(const C* center, int64_t c) {
  return center ? static_cast<double>(center[c]) : 0.0;
}

// "planes": block (c, split) reduces elements [split * chunk, +chunk) of channel c's N*S
// (element k is x[k / S][c][k % S]); partial p = split of P = gridDim.y.
template <typename T, BnSum kMode, typename C>
__global__ void bn_plane_partials(const T* __restrict__ x, const T* __restrict__ gy, const C* __restrict__ center,
                                  BatchNormShape sh, double* __restrict__ part_a, double* __restrict__ part_b) {
  __shared__ double shared[kWarp];
  const int64_t c = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
  const int64_t total = sh.n * sh.s, chunk = ceil_div(total, splits);
  const int64_t k1 = (split + 1) * chunk < total ? (split + 1) * chunk : total;
  const double m = center_of(center, c);
  double a = 0, b = 0;
  int64_t k = split * chunk + threadIdx.x;
  if (k < k1) {
    // (n, s) of k, advanced by blockDim.x each step without dividing again.
    int64_t n = k / sh.s, s = k % sh.s;
    const int64_t dn = blockDim.x / sh.s, ds = blockDim.x % sh.s;
    for (; k < k1; k += blockDim.x) {
      const int64_t i = (n * sh.c + c) * sh.s + s;
      bn_accumulate<kMode>(a, b, static_cast<double>(load_acc(x + i)), grad_at<kMode>(gy, i), m);
      n += dn;
      s += ds;
      if (s >= sh.s) {
        s -= sh.s;
        ++n;
      }
    }
  }
  a = block_sum(a, shared);
  if constexpr (kMode == BnSum::Backward) b = block_sum(b, shared);
  if (threadIdx.x == 0) {
    part_a[c * splits + split] = a;
    if constexpr (kMode == BnSum::Backward) part_b[c * splits + split] = b;
  }
}

// "columns": x as an (N, C*S) matrix; block (tile, split) sums columns [32 * tile, +32) over
// its range of rows. Column j = c * S + s gives channel c partial p = split * S + s of
// P = gridDim.y * S.
template <typename T, BnSum kMode, typename C>
__global__ void bn_column_partials(const T* __restrict__ x, const T* __restrict__ gy, const C* __restrict__ center,
                                   BatchNormShape sh, double* __restrict__ part_a, double* __restrict__ part_b) {
  __shared__ double sa[kColRows][kWarp], sb[kColRows][kWarp];
  const int64_t cols = sh.c * sh.s;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  const int64_t split = blockIdx.y, splits = gridDim.y, per = ceil_div(sh.n, splits);
  const int64_t n0 = split * per, n1 = n0 + per < sh.n ? n0 + per : sh.n;
  const int64_t ch = j / sh.s, s = j % sh.s;
  double a = 0, b = 0;
  if (j < cols) {
    const double m = center_of(center, ch);
    for (int64_t n = n0 + threadIdx.y; n < n1; n += kColRows) {
      const int64_t i = n * cols + j;
      bn_accumulate<kMode>(a, b, static_cast<double>(load_acc(x + i)), grad_at<kMode>(gy, i), m);
    }
  }
  sa[threadIdx.y][threadIdx.x] = a;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    for (int r = 1; r < kColRows; ++r) {
      a += sa[r][threadIdx.x];
      b += sb[r][threadIdx.x];
    }
    const int64_t p = ch * splits * sh.s + split * sh.s + s;
    part_a[p] = a;
    if constexpr (kMode == BnSum::Backward) part_b[p] = b;
  }
}

// out[c] = (sum of channel c's P partials) / divisor; one warp per channel, lanes in a fixed
// order, so the result is deterministic. part_b / out_b may be null.
__global__ void bn_channel_sums(const double* __restrict__ part_a, const double* __restrict__ part_b, int64_t channels,
                                int64_t partials, double divisor, double* __restrict__ out_a,
                                double* __restrict__ out_b) {
  const int lane = threadIdx.x % kWarp;
  const int64_t per_block = blockDim.x / kWarp;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / kWarp; c < channels;
       c += static_cast<int64_t>(gridDim.x) * per_block) {
    double a = 0, b = 0;
    for (int64_t p = lane; p < partials; p += kWarp) {
      a += part_a[c * partials + p];
      if (part_b) b += part_b[c * partials + p];
    }
    a = warp_sum(a);
    b = warp_sum(b);
    if (lane == 0) {
      out_a[c] = a / divisor;
      if (out_b) out_b[c] = b / divisor;
    }
  }
}

__device__ double load_param(const ChannelParam& p, int64_t c) {
  const int64_t i = c * p.stride;
  switch (p.type) {
    case ScalarType::F64: return static_cast<const double*>(p.data)[i];
    case ScalarType::F32: return static_cast<const float*>(p.data)[i];
    case ScalarType::F16: return __half2float(static_cast<const __half*>(p.data)[i]);
    case ScalarType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p.data)[i]);
    default: return 0.0;  // the host side passes floating types only
  }
}

// Through float for 16-bit types, as the CPU's double -> float16 copy rounds.
__device__ void store_param(const ChannelParam& p, int64_t c, double v) {
  const int64_t i = c * p.stride;
  switch (p.type) {
    case ScalarType::F64: static_cast<double*>(p.data)[i] = v; break;
    case ScalarType::F32: static_cast<float*>(p.data)[i] = static_cast<float>(v); break;
    case ScalarType::F16: static_cast<__half*>(p.data)[i] = convert<__half>(v); break;
    case ScalarType::BF16: static_cast<__nv_bfloat16*>(p.data)[i] = convert<__nv_bfloat16>(v); break;
    default: break;
  }
}

// Per channel: the statistics (training: from mean / sq = sum of squared deviations; eval:
// the running stats), the running-stat update, and y = (x - mean) * scale + shift.
template <typename T>
__global__ void bn_finalize_forward(const double* __restrict__ mean_d, const double* __restrict__ sq,
                                    const T* __restrict__ w, const T* __restrict__ b, ChannelParam rm, ChannelParam rv,
                                    bool training, double momentum, double eps, double count, int64_t channels,
                                    acc_t<T>* __restrict__ save_mean, acc_t<T>* __restrict__ save_invstd,
                                    acc_t<T>* __restrict__ scale, acc_t<T>* __restrict__ shift) {
  using A = acc_t<T>;
  for (int64_t c = global_thread_index(); c < channels; c += grid_stride()) {
    double mean, invstd;
    if (training) {
      mean = mean_d[c];
      const double var = sq[c] / count;
      invstd = 1.0 / sqrt(var + eps);
      const double unbiased = count > 1 ? sq[c] / (count - 1) : var;
      if (rm.data) store_param(rm, c, (1 - momentum) * load_param(rm, c) + momentum * mean);
      if (rv.data) store_param(rv, c, (1 - momentum) * load_param(rv, c) + momentum * unbiased);
    } else {
      mean = load_param(rm, c);
      invstd = 1.0 / sqrt(load_param(rv, c) + eps);
    }
    const double wc = w ? static_cast<double>(load_acc(w + c)) : 1.0;
    const double bc = b ? static_cast<double>(load_acc(b + c)) : 0.0;
    save_mean[c] = static_cast<A>(mean);
    save_invstd[c] = static_cast<A>(invstd);
    scale[c] = static_cast<A>(invstd * wc);
    shift[c] = static_cast<A>(bc);
  }
}

// The channel of flat index i of an (N, C, S) tensor, advanced by a fixed step without
// dividing again: i = (q * C + c) * S + s.
struct ChannelCursor {
  int64_t s, c, ds, dc, S, C;
  __device__ ChannelCursor(int64_t i, int64_t step, int64_t S_, int64_t C_)
      : s(i % S_), c((i / S_) % C_), ds(step % S_), dc((step / S_) % C_), S(S_), C(C_) {}
  __device__ void advance() {
    s += ds;
    int64_t carry = 0;
    if (s >= S) {
      s -= S;
      carry = 1;
    }
    c += dc + carry;  // < 2C
    if (c >= C) c -= C;
  }
};

template <typename T>
__global__ void bn_apply_forward(const T* __restrict__ x, T* __restrict__ y, BatchNormShape sh,
                                 const acc_t<T>* __restrict__ mean, const acc_t<T>* __restrict__ scale,
                                 const acc_t<T>* __restrict__ shift) {
  const int64_t total = sh.n * sh.c * sh.s;
  ChannelCursor cur(global_thread_index(), grid_stride(), sh.s, sh.c);
  for (int64_t i = global_thread_index(); i < total; i += grid_stride(), cur.advance()) {
    const int64_t c = cur.c;
    store_acc(y + i, (load_acc(x + i) - mean[c]) * scale[c] + shift[c]);
  }
}

// Per channel: weight/bias gradients and grad_x = grad_y * k + (x - mean) * kx + k0 (training;
// eval: kx = k0 = 0). sum_g / sum_gx are only read when training or a parameter gradient is
// requested (the host computes them then).
template <typename T>
__global__ void bn_finalize_backward(const double* __restrict__ sum_g, const double* __restrict__ sum_gx,
                                     const T* __restrict__ w, const acc_t<T>* __restrict__ save_invstd, bool training,
                                     double count, int64_t channels, T* __restrict__ gw, T* __restrict__ gb,
                                     acc_t<T>* __restrict__ k, acc_t<T>* __restrict__ kx, acc_t<T>* __restrict__ k0) {
  using A = acc_t<T>;
  for (int64_t c = global_thread_index(); c < channels; c += grid_stride()) {
    const double is = static_cast<double>(save_invstd[c]);
    if (gw) store_acc(gw + c, static_cast<A>(sum_gx[c] * is));
    if (gb) store_acc(gb + c, static_cast<A>(sum_g[c]));
    const double wc = w ? static_cast<double>(load_acc(w + c)) : 1.0;
    k[c] = static_cast<A>(is * wc);
    if (training) {
      kx[c] = static_cast<A>(-is * is * is * wc * sum_gx[c] / count);
      k0[c] = static_cast<A>(-is * wc * sum_g[c] / count);
    } else {
      kx[c] = A(0);
      k0[c] = A(0);
    }
  }
}

template <typename T>
__global__ void bn_apply_backward(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gx,
                                  BatchNormShape sh, const acc_t<T>* __restrict__ mean, const acc_t<T>* __restrict__ k,
                                  const acc_t<T>* __restrict__ kx, const acc_t<T>* __restrict__ k0) {
  const int64_t total = sh.n * sh.c * sh.s;
  ChannelCursor cur(global_thread_index(), grid_stride(), sh.s, sh.c);
  for (int64_t i = global_thread_index(); i < total; i += grid_stride(), cur.advance()) {
    const int64_t c = cur.c;
    store_acc(gx + i, load_acc(gy + i) * k[c] + (load_acc(x + i) - mean[c]) * kx[c] + k0[c]);
  }
}

// ---- launchers --------------------------------------------------------------------------------

template <typename T> void launch_layer_norm(const T* x, const T* w, const T* b, double eps, int64_t rows, int64_t d,
                                             T* y, acc_t<T>* mean, acc_t<T>* rstd, cudaStream_t stream) {
  if (d <= kMaxWarpRow) {
    layer_norm_kernel<T, true><<<grid_for(rows, kBlockSize / kWarp), kBlockSize, 0, stream>>>(x, w, b, eps, rows, d,
                                                                                             y, mean, rstd);
  } else {
    layer_norm_kernel<T, false><<<grid_for(rows, 1), kRowBlock, 0, stream>>>(x, w, b, eps, rows, d, y, mean, rstd);
  }
}

template <typename T>
cudaError_t launch_layer_norm_backward(const T* gy, const T* x, const acc_t<T>* mean, const acc_t<T>* rstd,
                                       const T* w, int64_t rows, int64_t d, T* gx, T* gw, T* gb, double* scratch,
                                       cudaStream_t stream) {
  if (gx && rows > 0) {
    if (d <= kMaxWarpRow) {
      layer_norm_backward_kernel<T, true><<<grid_for(rows, kBlockSize / kWarp), kBlockSize, 0, stream>>>(
          gy, x, mean, rstd, w, rows, d, gx);
    } else {
      layer_norm_backward_kernel<T, false><<<grid_for(rows, 1), kRowBlock, 0, stream>>>(gy, x, mean, rstd, w, rows,
                                                                                        d, gx);
    }
  }
  if (gw || gb) {
    if (!scratch) return cudaErrorInvalidValue;
    const ColumnPlan plan = column_plan(rows, d);
    double* part_w = scratch;
    double* part_b = scratch + plan.splits * d;
    layer_norm_param_partials<T><<<dim3(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits)),
                                   dim3(kWarp, kColRows), 0, stream>>>(gy, x, mean, rstd, rows, d, part_w, part_b);
    layer_norm_param_finish<T><<<grid_for(d), kBlockSize, 0, stream>>>(part_w, part_b, plan.splits, d, gw, gb);
  }
  return cudaGetLastError();
}

// How the per-channel sums of a batch norm are laid out: grid, and P partials per channel.
struct BnPlan {
  bool planes;
  dim3 grid;
  int64_t partials;
};

BnPlan bn_plan(const BatchNormShape& sh) {
  BnPlan p{};
  p.planes = sh.s >= kMinPlane;
  if (p.planes) {
    const int64_t per_channel = sh.n * sh.s;
    const int64_t want = ceil_div(kTargetBlocks, sh.c);
    const int64_t by_size = ceil_div(per_channel, kMinPlaneChunk);
    const int64_t splits = clamp64(want < by_size ? want : by_size, 1, 65535);
    p.grid = dim3(static_cast<unsigned>(sh.c), static_cast<unsigned>(splits));
    p.partials = splits;
  } else {
    const int64_t tiles = ceil_div(sh.c * sh.s, kWarp) > 0 ? ceil_div(sh.c * sh.s, kWarp) : 1;
    const int64_t want = ceil_div(kTargetBlocks, tiles);
    const int64_t by_size = ceil_div(sh.n, kMinRowsPerSplit);
    const int64_t splits = clamp64(want < by_size ? want : by_size, 1, 65535);
    p.grid = dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(splits));
    p.partials = splits * sh.s;
  }
  return p;
}

// Scratch: part_a, part_b (C * P each), then five per-channel arrays.
struct BnScratch {
  double *part_a, *part_b, *ch0, *ch1, *ch2, *ch3, *ch4;
  BnScratch(double* base, const BatchNormShape& sh, int64_t partials) {
    const int64_t np = sh.c * partials;
    part_a = base;
    part_b = base + np;
    ch0 = base + 2 * np;
    ch1 = ch0 + sh.c;
    ch2 = ch1 + sh.c;
    ch3 = ch2 + sh.c;
    ch4 = ch3 + sh.c;
  }
};

template <typename T, BnSum kMode, typename C>
void launch_bn_partials(const BnPlan& plan, const T* x, const T* gy, const C* center, const BatchNormShape& sh,
                        double* part_a, double* part_b, cudaStream_t stream) {
  if (plan.planes) {
    bn_plane_partials<T, kMode, C><<<plan.grid, kBlockSize, 0, stream>>>(x, gy, center, sh, part_a, part_b);
  } else {
    bn_column_partials<T, kMode, C><<<plan.grid, dim3(kWarp, kColRows), 0, stream>>>(x, gy, center, sh, part_a,
                                                                                     part_b);
  }
}

void launch_channel_sums(const double* part_a, const double* part_b, const BatchNormShape& sh, int64_t partials,
                         double divisor, double* out_a, double* out_b, cudaStream_t stream) {
  bn_channel_sums<<<grid_for(sh.c, kBlockSize / kWarp), kBlockSize, 0, stream>>>(part_a, part_b, sh.c, partials,
                                                                                divisor, out_a, out_b);
}

template <typename T>
cudaError_t launch_batch_norm(const T* x, const T* w, const T* b, ChannelParam rm, ChannelParam rv, bool training,
                              double momentum, double eps, const BatchNormShape& sh, T* y, acc_t<T>* save_mean,
                              acc_t<T>* save_invstd, double* scratch, cudaStream_t stream) {
  using A = acc_t<T>;
  const BnPlan plan = bn_plan(sh);
  const BnScratch s(scratch, sh, plan.partials);
  double* mean_d = s.ch0;
  double* sq = s.ch1;
  A* scale = reinterpret_cast<A*>(s.ch2);
  A* shift = reinterpret_cast<A*>(s.ch3);
  const double count = static_cast<double>(sh.n * sh.s);
  if (training) {
    launch_bn_partials<T, BnSum::Mean, double>(plan, x, nullptr, nullptr, sh, s.part_a, nullptr, stream);
    launch_channel_sums(s.part_a, nullptr, sh, plan.partials, count, mean_d, nullptr, stream);
    launch_bn_partials<T, BnSum::SqDev, double>(plan, x, nullptr, mean_d, sh, s.part_a, nullptr, stream);
    launch_channel_sums(s.part_a, nullptr, sh, plan.partials, 1.0, sq, nullptr, stream);
  }
  bn_finalize_forward<T><<<grid_for(sh.c), kBlockSize, 0, stream>>>(mean_d, sq, w, b, rm, rv, training, momentum, eps,
                                                                    count, sh.c, save_mean, save_invstd, scale, shift);
  const int64_t total = sh.n * sh.c * sh.s;
  if (total > 0) bn_apply_forward<T><<<grid_for(total), kBlockSize, 0, stream>>>(x, y, sh, save_mean, scale, shift);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_batch_norm_backward(const T* gy, const T* x, const T* w, const acc_t<T>* save_mean,
                                       const acc_t<T>* save_invstd, bool training, const BatchNormShape& sh, T* gx,
                                       T* gw, T* gb, double* scratch, cudaStream_t stream) {
  using A = acc_t<T>;
  if (!gx && !gw && !gb) return cudaSuccess;
  const BnPlan plan = bn_plan(sh);
  const BnScratch s(scratch, sh, plan.partials);
  double* sum_g = s.ch0;
  double* sum_gx = s.ch1;
  A* k = reinterpret_cast<A*>(s.ch2);
  A* kx = reinterpret_cast<A*>(s.ch3);
  A* k0 = reinterpret_cast<A*>(s.ch4);
  if (gw || gb || training) {
    const int64_t total = sh.n * sh.c * sh.s;
    if (total > 0) {
      launch_bn_partials<T, BnSum::Backward, A>(plan, x, gy, save_mean, sh, s.part_a, s.part_b, stream);
      launch_channel_sums(s.part_a, s.part_b, sh, plan.partials, 1.0, sum_g, sum_gx, stream);
    } else {  // no elements: the sums are zero
      const cudaError_t err = cudaMemsetAsync(sum_g, 0, 2 * sh.c * sizeof(double), stream);
      if (err != cudaSuccess) return err;
    }
  }
  const double count = static_cast<double>(sh.n * sh.s);
  bn_finalize_backward<T><<<grid_for(sh.c), kBlockSize, 0, stream>>>(sum_g, sum_gx, w, save_invstd, training, count,
                                                                     sh.c, gw, gb, k, kx, k0);
  const int64_t total = sh.n * sh.c * sh.s;
  if (gx && total > 0)
    bn_apply_backward<T><<<grid_for(total), kBlockSize, 0, stream>>>(gy, x, gx, sh, save_mean, k, kx, k0);
  return cudaGetLastError();
}

}  // namespace

cudaError_t layer_norm_forward(const void* x, const void* weight, const void* bias, double eps, int64_t rows,
                               int64_t d, void* y, void* mean, void* rstd, ScalarType type, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    using A = acc_t<scalar_t>;
    launch_layer_norm(static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(weight),
                      static_cast<const scalar_t*>(bias), eps, rows, d, static_cast<scalar_t*>(y),
                      static_cast<A*>(mean), static_cast<A*>(rstd), stream);
  });
  return cudaGetLastError();
}

int64_t layer_norm_backward_scratch(int64_t rows, int64_t d) { return 2 * column_plan(rows, d).splits * d; }

cudaError_t layer_norm_backward(const void* grad_y, const void* x, const void* mean, const void* rstd,
                                const void* weight, int64_t rows, int64_t d, void* grad_x, void* grad_weight,
                                void* grad_bias, double* scratch, ScalarType type, cudaStream_t stream) {
  if (d == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    using A = acc_t<scalar_t>;
    err = launch_layer_norm_backward(static_cast<const scalar_t*>(grad_y), static_cast<const scalar_t*>(x),
                                     static_cast<const A*>(mean), static_cast<const A*>(rstd),
                                     static_cast<const scalar_t*>(weight), rows, d, static_cast<scalar_t*>(grad_x),
                                     static_cast<scalar_t*>(grad_weight), static_cast<scalar_t*>(grad_bias), scratch,
                                     stream);
  });
  return err;
}

int64_t batch_norm_scratch(BatchNormShape shape) {
  if (shape.c == 0) return 0;
  return 2 * shape.c * bn_plan(shape).partials + 5 * shape.c;
}

cudaError_t batch_norm_forward(const void* x, const void* weight, const void* bias, ChannelParam running_mean,
                               ChannelParam running_var, bool training, double momentum, double eps,
                               BatchNormShape shape, void* y, void* save_mean, void* save_invstd, double* scratch,
                               ScalarType type, cudaStream_t stream) {
  if (shape.c == 0) return cudaSuccess;
  if (!scratch || (!training && (!running_mean.data || !running_var.data))) return cudaErrorInvalidValue;
  if (training && shape.n * shape.s == 0) return cudaErrorInvalidValue;  // the op layer rejects it
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    using A = acc_t<scalar_t>;
    err = launch_batch_norm(static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(weight),
                            static_cast<const scalar_t*>(bias), running_mean, running_var, training, momentum, eps,
                            shape, static_cast<scalar_t*>(y), static_cast<A*>(save_mean), static_cast<A*>(save_invstd),
                            scratch, stream);
  });
  return err;
}

cudaError_t batch_norm_backward(const void* grad_y, const void* x, const void* weight, const void* save_mean,
                                const void* save_invstd, bool training, BatchNormShape shape, void* grad_x,
                                void* grad_weight, void* grad_bias, double* scratch, ScalarType type,
                                cudaStream_t stream) {
  if (shape.c == 0) return cudaSuccess;
  if (!scratch) return cudaErrorInvalidValue;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    using A = acc_t<scalar_t>;
    err = launch_batch_norm_backward(static_cast<const scalar_t*>(grad_y), static_cast<const scalar_t*>(x),
                                     static_cast<const scalar_t*>(weight), static_cast<const A*>(save_mean),
                                     static_cast<const A*>(save_invstd), training, shape,
                                     static_cast<scalar_t*>(grad_x), static_cast<scalar_t*>(grad_weight),
                                     static_cast<scalar_t*>(grad_bias), scratch, stream);
  });
  return err;
}

}  // namespace ts::kernels
