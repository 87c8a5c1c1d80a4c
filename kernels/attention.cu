// Fused scaled-dot-product attention, flash-attention-2 style (Dao, 2023): a CTA keeps one tile
// of the "stationary" operand in shared memory and streams the other in tiles, so the (T x S)
// scores only ever exist one tile at a time in registers.
//
//  * forward: CTA = (batch*head, block of query rows); loops over key/value tiles with an online
//    softmax (running max and sum in float/double), O accumulates in registers; writes O and
//    the row log-sum-exp. Causal blocks stop at their last visible key.
//  * backward: D_i = dO_i . O_i first (row_dot_kernel); then two kernels that recompute the
//    probabilities P = exp(scale * q.k - lse) tile by tile: one per query block accumulating dQ
//    (stationary q, dO), one per key block accumulating dK and dV (stationary k, v). The score
//    products are done twice, but there are no atomics and results are deterministic.
//
// Two implementations of each kernel:
//  * mma_*: f16/bf16 with head dims <= 128 on tensor cores (mma.sync m16n8k16, float
//    accumulation). Each of the 4 warps owns 16 rows of the stationary tile; score fragments
//    stay in registers and are re-packed as the A operand of the next product (the accumulator
//    layout of m16n8k16 is its A layout), operands come from padded shared memory via ldmatrix.
//    Probabilities and dS are rounded to the input type for the second product, as in FA2.
//  * fma_*: every dtype and head dim on CUDA cores, computing in acc_t<T> (float, or double for
//    f64). 128 threads as 8 x 16: thread (ty, tx) owns rows ty + 8a and columns tx + 16b, so a
//    row's values live in one half-warp and row reductions are shuffles.
#include "kernels/attention.h"

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/common.cuh"

namespace ts::kernels {
namespace {

// ============================================================================================
// kernels
// ============================================================================================

struct Args {
  AttentionOperand q, k, v, o, go;  // o / go: the forward output and its gradient (backward)
  void* out = nullptr;              // forward output, contiguous (B, H, T, Dv)
  void* lse = nullptr;              // (B, H, T) in acc_t<T>: written by the forward, read by the backward
  void* row_dot = nullptr;          // (B, H, T) in acc_t<T>: D_i
  void* gq = nullptr;
  void* gk = nullptr;
  void* gv = nullptr;
  int64_t bh = 0, heads = 0, t = 0, s = 0;
  int64_t shift = 0;  // causal: query i sees key j iff j <= i + shift (= S - T)
  int d = 0, dv = 0;
  double scale = 1.0;
  bool causal = false;
  bool vec = false;  // mma kernels: every staged row is 16-byte aligned (cp.async)
};

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <typename T>
__device__ __forceinline__ const T* head_ptr(const AttentionOperand& op, int64_t bh, int64_t heads) {
  return static_cast<const T*>(op.data) + (bh / heads) * op.stride_b + (bh % heads) * op.stride_h;
}

// One past the last key query row i may see.
__device__ __forceinline__ int64_t visible_end(const Args& a, int64_t i) {
  if (!a.causal) return a.s;
  const int64_t e = i + a.shift + 1;
  return e < 0 ? 0 : (e > a.s ? a.s : e);
}

__device__ __forceinline__ bool sees(const Args& a, int64_t i, int64_t j) {
  return i < a.t && j < a.s && (!a.causal || j <= i + a.shift);
}

// First query row that sees key j.
__device__ __forceinline__ int64_t first_query(const Args& a, int64_t j) {
  return a.causal && j > a.shift ? j - a.shift : 0;
}

template <typename A> __device__ __forceinline__ A exp_of(A x) {
  if constexpr (std::is_same_v<A, double>) return exp(x); else return expf(x);
}
template <typename A> __device__ __forceinline__ A fma_of(A x, A y, A z) {
  if constexpr (std::is_same_v<A, double>) return fma(x, y, z); else return fmaf(x, y, z);
}
template <typename A> __device__ __forceinline__ A log_of(A x) {
  if constexpr (std::is_same_v<A, double>) return log(x); else return logf(x);
}

constexpr float kLog2e = 1.4426950408889634f;

// ---- CUDA-core (FMA) kernels ---------------------------------------------------------------

constexpr int kFmaThreads = 128;

enum class Kind { Forward, Dq, Dkdv };
struct Tile {
  int br, bc;  // query rows, key rows per tile
};

// Shared memory of each kernel, in elements of acc_t (rows padded by one element so that
// walking a column across rows tx + 16b hits distinct banks).
__host__ __device__ constexpr size_t fma_smem_elems(Kind kind, int hd, Tile t) {
  const size_t ld = static_cast<size_t>(hd) + 1, br = static_cast<size_t>(t.br), bc = static_cast<size_t>(t.bc);
  switch (kind) {
    case Kind::Forward: return (br + bc) * ld + br * (bc + 1);          // q, k-or-v, p
    case Kind::Dq: return 2 * (br + bc) * ld + br * (bc + 1);           // q, do, k, v, ds
    case Kind::Dkdv: return 2 * (br + bc) * ld + 2 * bc * (br + 1) + 2 * br;  // .., p, ds, lse, D
  }
  return 0;
}

// The largest tile within 96 KiB, which every sm_80+ GPU grants a block. Only float64 heads
// wider than 128 exceed it (up to 137 KiB: A100/H100-class GPUs, where float64 is not slow).
__host__ __device__ constexpr Tile fma_tile(Kind kind, int elem_size, int hd) {
  constexpr Tile candidates[] = {{32, 64}, {32, 32}, {32, 16}, {16, 16}};
  for (const Tile c : candidates)
    if (fma_smem_elems(kind, hd, c) * static_cast<size_t>(elem_size) <= 96u * 1024) return c;
  return {16, 16};
}

template <typename A> __device__ __forceinline__ A half_warp_max(A v) {
  for (int o = 8; o > 0; o >>= 1) {
    const A w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;  // NaN scores never win, as in the CPU backend's row max
  }
  return v;
}
template <typename A> __device__ __forceinline__ A half_warp_sum(A v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// rows [row0, row0 + R) x cols [0, HD) of a head into shared memory as acc_t, zero outside
// (rows >= rows_end, cols >= cols_end).
template <typename T, int R, int HD>
__device__ __forceinline__ void fma_stage(acc_t<T>* dst, const T* src, int64_t stride, int64_t row0, int64_t rows_end,
                                          int cols_end) {
  for (int e = threadIdx.x; e < R * HD; e += kFmaThreads) {
    const int r = e / HD, c = e % HD;
    const int64_t gr = row0 + r;
    dst[r * (HD + 1) + c] = gr < rows_end && c < cols_end ? load_acc(src + gr * stride + c) : acc_t<T>(0);
  }
}

template <typename T, int HD>
__global__ void __launch_bounds__(kFmaThreads) fma_forward_kernel(const Args a) {
  using A = acc_t<T>;
  constexpr Tile tile = fma_tile(Kind::Forward, sizeof(A), HD);
  constexpr int BR = tile.br, BC = tile.bc, LD = HD + 1, LDP = BC + 1;
  constexpr int RA = BR / 8, CB = BC / 16, CO = HD / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* qs = reinterpret_cast<A*>(smem_raw);
  A* kvs = qs + BR * LD;  // the key tile, then the value tile
  A* ps = kvs + BC * LD;

  const int64_t tiles = ceil_div(a.t, BR);
  const int64_t bh = blockIdx.x / tiles;
  const int64_t q0 = (tiles - 1 - blockIdx.x % tiles) * BR;  // the longest causal blocks start first
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const T* kg = head_ptr<T>(a.k, bh, a.heads);
  const T* vg = head_ptr<T>(a.v, bh, a.heads);
  const A scale = static_cast<A>(a.scale);
  fma_stage<T, BR, HD>(qs, head_ptr<T>(a.q, bh, a.heads), a.q.stride_t, q0, a.t, a.d);
  const int64_t key_end = visible_end(a, (q0 + BR < a.t ? q0 + BR : a.t) - 1);

  A o[RA][CO] = {}, m[RA], l[RA];
#pragma unroll
  for (int r = 0; r < RA; ++r) {
    m[r] = A(-INFINITY);
    l[r] = 0;  // this thread's share of the row sum; summed over the half-warp at the end
  }
  for (int64_t k0 = 0; k0 < key_end; k0 += BC) {
    __syncthreads();  // the previous value tile is consumed (and q is staged)
    fma_stage<T, BC, HD>(kvs, kg, a.k.stride_t, k0, a.s, a.d);
    __syncthreads();
    A s[RA][CB] = {};
    for (int d = 0; d < a.d; ++d) {
      A qv[RA], kv[CB];
#pragma unroll
      for (int r = 0; r < RA; ++r) qv[r] = qs[(ty + 8 * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CB; ++c) kv[c] = kvs[(tx + 16 * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RA; ++r)
#pragma unroll
        for (int c = 0; c < CB; ++c) s[r][c] = fma_of(qv[r], kv[c], s[r][c]);
    }
#pragma unroll
    for (int r = 0; r < RA; ++r) {
      const int64_t i = q0 + ty + 8 * r;
      A tile_max = A(-INFINITY);
#pragma unroll
      for (int c = 0; c < CB; ++c) {
        if (!sees(a, i, k0 + tx + 16 * c)) s[r][c] = A(-INFINITY);
        tile_max = s[r][c] > tile_max ? s[r][c] : tile_max;
      }
      tile_max = half_warp_max(tile_max);
      const A m_new = tile_max > m[r] ? tile_max : m[r];
      const A base = m_new == A(-INFINITY) ? A(0) : m_new;  // no key seen yet: keep exp() finite
      const A alpha = exp_of(scale * (m[r] - base));
      m[r] = m_new;
      l[r] *= alpha;
#pragma unroll
      for (int c = 0; c < CO; ++c) o[r][c] *= alpha;
#pragma unroll
      for (int c = 0; c < CB; ++c) {
        const A p = exp_of(scale * (s[r][c] - base));
        l[r] += p;
        ps[(ty + 8 * r) * LDP + tx + 16 * c] = p;
      }
    }
    __syncthreads();  // every warp is done with the key tile
    fma_stage<T, BC, HD>(kvs, vg, a.v.stride_t, k0, a.s, a.dv);
    __syncthreads();
    const int kcount = static_cast<int>(key_end - k0 < BC ? key_end - k0 : BC);
    for (int j = 0; j < kcount; ++j) {
      A pv[RA], vv[CO];
#pragma unroll
      for (int r = 0; r < RA; ++r) pv[r] = ps[(ty + 8 * r) * LDP + j];
#pragma unroll
      for (int c = 0; c < CO; ++c) vv[c] = kvs[j * LD + tx + 16 * c];
#pragma unroll
      for (int r = 0; r < RA; ++r)
#pragma unroll
        for (int c = 0; c < CO; ++c) o[r][c] = fma_of(pv[r], vv[c], o[r][c]);
    }
  }

  T* out = static_cast<T*>(a.out) + bh * a.t * a.dv;
  A* lse = static_cast<A*>(a.lse) + bh * a.t;
#pragma unroll
  for (int r = 0; r < RA; ++r) {
    const A sum = half_warp_sum(l[r]);
    const int64_t i = q0 + ty + 8 * r;
    if (i >= a.t) continue;
    // A row that sees no key gets zeros and lse = -inf, as on the CPU.
    const A inv = sum == A(0) ? A(0) : A(1) / sum;
#pragma unroll
    for (int c = 0; c < CO; ++c) {
      const int col = tx + 16 * c;
      if (col < a.dv) store_acc(out + i * a.dv + col, o[r][c] * inv);
    }
    if (tx == 0) lse[i] = sum == A(0) ? A(-INFINITY) : scale * m[r] + log_of(sum);
  }
}

template <typename T, int HD>
__global__ void __launch_bounds__(kFmaThreads) fma_dq_kernel(const Args a) {
  using A = acc_t<T>;
  constexpr Tile tile = fma_tile(Kind::Dq, sizeof(A), HD);
  constexpr int BR = tile.br, BC = tile.bc, LD = HD + 1, LDP = BC + 1;
  constexpr int RA = BR / 8, CB = BC / 16, CO = HD / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* qs = reinterpret_cast<A*>(smem_raw);
  A* dos = qs + BR * LD;
  A* ks = dos + BR * LD;
  A* vs = ks + BC * LD;
  A* dss = vs + BC * LD;

  const int64_t tiles = ceil_div(a.t, BR);
  const int64_t bh = blockIdx.x / tiles;
  const int64_t q0 = (tiles - 1 - blockIdx.x % tiles) * BR;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const T* kg = head_ptr<T>(a.k, bh, a.heads);
  const T* vg = head_ptr<T>(a.v, bh, a.heads);
  const A scale = static_cast<A>(a.scale);
  fma_stage<T, BR, HD>(qs, head_ptr<T>(a.q, bh, a.heads), a.q.stride_t, q0, a.t, a.d);
  fma_stage<T, BR, HD>(dos, head_ptr<T>(a.go, bh, a.heads), a.go.stride_t, q0, a.t, a.dv);
  A lse[RA], dd[RA];
#pragma unroll
  for (int r = 0; r < RA; ++r) {
    const int64_t i = q0 + ty + 8 * r;
    lse[r] = i < a.t ? static_cast<const A*>(a.lse)[bh * a.t + i] : A(0);
    dd[r] = i < a.t ? static_cast<const A*>(a.row_dot)[bh * a.t + i] : A(0);
  }
  const int64_t key_end = visible_end(a, (q0 + BR < a.t ? q0 + BR : a.t) - 1);

  A dq[RA][CO] = {};
  for (int64_t k0 = 0; k0 < key_end; k0 += BC) {
    __syncthreads();  // every warp is done with the previous key/value tile
    fma_stage<T, BC, HD>(ks, kg, a.k.stride_t, k0, a.s, a.d);
    fma_stage<T, BC, HD>(vs, vg, a.v.stride_t, k0, a.s, a.dv);
    __syncthreads();
    A s[RA][CB] = {}, dp[RA][CB] = {};
    for (int d = 0; d < a.d; ++d) {
      A qv[RA], kv[CB];
#pragma unroll
      for (int r = 0; r < RA; ++r) qv[r] = qs[(ty + 8 * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CB; ++c) kv[c] = ks[(tx + 16 * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RA; ++r)
#pragma unroll
        for (int c = 0; c < CB; ++c) s[r][c] = fma_of(qv[r], kv[c], s[r][c]);
    }
    for (int d = 0; d < a.dv; ++d) {
      A gv[RA], vv[CB];
#pragma unroll
      for (int r = 0; r < RA; ++r) gv[r] = dos[(ty + 8 * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CB; ++c) vv[c] = vs[(tx + 16 * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RA; ++r)
#pragma unroll
        for (int c = 0; c < CB; ++c) dp[r][c] = fma_of(gv[r], vv[c], dp[r][c]);
    }
#pragma unroll
    for (int r = 0; r < RA; ++r)
#pragma unroll
      for (int c = 0; c < CB; ++c) {
        const bool in = sees(a, q0 + ty + 8 * r, k0 + tx + 16 * c);
        const A p = in ? exp_of(scale * s[r][c] - lse[r]) : A(0);
        dss[(ty + 8 * r) * LDP + tx + 16 * c] = p * (dp[r][c] - dd[r]) * scale;
      }
    __syncwarp();  // a row of dS is written and read by one half-warp
    const int kcount = static_cast<int>(key_end - k0 < BC ? key_end - k0 : BC);
    for (int j = 0; j < kcount; ++j) {
      A dv[RA], kv[CO];
#pragma unroll
      for (int r = 0; r < RA; ++r) dv[r] = dss[(ty + 8 * r) * LDP + j];
#pragma unroll
      for (int c = 0; c < CO; ++c) kv[c] = ks[j * LD + tx + 16 * c];
#pragma unroll
      for (int r = 0; r < RA; ++r)
#pragma unroll
        for (int c = 0; c < CO; ++c) dq[r][c] = fma_of(dv[r], kv[c], dq[r][c]);
    }
  }

  T* gq = static_cast<T*>(a.gq) + bh * a.t * a.d;
#pragma unroll
  for (int r = 0; r < RA; ++r) {
    const int64_t i = q0 + ty + 8 * r;
    if (i >= a.t) continue;
#pragma unroll
    for (int c = 0; c < CO; ++c) {
      const int col = tx + 16 * c;
      if (col < a.d) store_acc(gq + i * a.d + col, dq[r][c]);
    }
  }
}

// Roles swap: thread rows are keys (ty + 8a), columns queries (tx + 16b) or head dims.
template <typename T, int HD>
__global__ void __launch_bounds__(kFmaThreads) fma_dkdv_kernel(const Args a) {
  using A = acc_t<T>;
  constexpr Tile tile = fma_tile(Kind::Dkdv, sizeof(A), HD);
  constexpr int BR = tile.br, BC = tile.bc, LD = HD + 1, LDP = BR + 1;
  constexpr int RK = BC / 8, CQ = BR / 16, CO = HD / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* ks = reinterpret_cast<A*>(smem_raw);
  A* vs = ks + BC * LD;
  A* qs = vs + BC * LD;
  A* dos = qs + BR * LD;
  A* ps = dos + BR * LD;  // (keys, queries)
  A* dss = ps + BC * LDP;
  A* lse_s = dss + BC * LDP;
  A* dd_s = lse_s + BR;

  const int64_t tiles = ceil_div(a.s, BC);
  const int64_t bh = blockIdx.x / tiles;
  const int64_t k0 = (blockIdx.x % tiles) * BC;  // early key blocks (the longest causal ones) start first
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const T* qg = head_ptr<T>(a.q, bh, a.heads);
  const T* gog = head_ptr<T>(a.go, bh, a.heads);
  const A* lse = static_cast<const A*>(a.lse) + bh * a.t;
  const A* row_dot = static_cast<const A*>(a.row_dot) + bh * a.t;
  const A scale = static_cast<A>(a.scale);
  fma_stage<T, BC, HD>(ks, head_ptr<T>(a.k, bh, a.heads), a.k.stride_t, k0, a.s, a.d);
  fma_stage<T, BC, HD>(vs, head_ptr<T>(a.v, bh, a.heads), a.v.stride_t, k0, a.s, a.dv);

  A dk[RK][CO] = {}, dv[RK][CO] = {};
  for (int64_t q0 = first_query(a, k0) / BR * BR; q0 < a.t; q0 += BR) {
    __syncthreads();  // every warp is done with the previous query tile (and k, v are staged)
    fma_stage<T, BR, HD>(qs, qg, a.q.stride_t, q0, a.t, a.d);
    fma_stage<T, BR, HD>(dos, gog, a.go.stride_t, q0, a.t, a.dv);
    for (int e = threadIdx.x; e < BR; e += kFmaThreads) {
      const bool in = q0 + e < a.t;
      lse_s[e] = in ? lse[q0 + e] : A(0);
      dd_s[e] = in ? row_dot[q0 + e] : A(0);
    }
    __syncthreads();
    A s[RK][CQ] = {}, dp[RK][CQ] = {};
    for (int d = 0; d < a.d; ++d) {
      A kv[RK], qv[CQ];
#pragma unroll
      for (int r = 0; r < RK; ++r) kv[r] = ks[(ty + 8 * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CQ; ++c) qv[c] = qs[(tx + 16 * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RK; ++r)
#pragma unroll
        for (int c = 0; c < CQ; ++c) s[r][c] = fma_of(kv[r], qv[c], s[r][c]);
    }
    for (int d = 0; d < a.dv; ++d) {
      A vv[RK], gv[CQ];
#pragma unroll
      for (int r = 0; r < RK; ++r) vv[r] = vs[(ty + 8 * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CQ; ++c) gv[c] = dos[(tx + 16 * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RK; ++r)
#pragma unroll
        for (int c = 0; c < CQ; ++c) dp[r][c] = fma_of(vv[r], gv[c], dp[r][c]);
    }
#pragma unroll
    for (int r = 0; r < RK; ++r)
#pragma unroll
      for (int c = 0; c < CQ; ++c) {
        const int qi = tx + 16 * c;
        const bool in = sees(a, q0 + qi, k0 + ty + 8 * r);
        const A p = in ? exp_of(scale * s[r][c] - lse_s[qi]) : A(0);
        ps[(ty + 8 * r) * LDP + qi] = p;
        dss[(ty + 8 * r) * LDP + qi] = p * (dp[r][c] - dd_s[qi]) * scale;
      }
    __syncwarp();  // a key row of P and dS is written and read by one half-warp
    const int qcount = static_cast<int>(a.t - q0 < BR ? a.t - q0 : BR);
    for (int i = 0; i < qcount; ++i) {
      A pr[RK], dsr[RK], qv[CO], gv[CO];
#pragma unroll
      for (int r = 0; r < RK; ++r) {
        pr[r] = ps[(ty + 8 * r) * LDP + i];
        dsr[r] = dss[(ty + 8 * r) * LDP + i];
      }
#pragma unroll
      for (int c = 0; c < CO; ++c) {
        qv[c] = qs[i * LD + tx + 16 * c];
        gv[c] = dos[i * LD + tx + 16 * c];
      }
#pragma unroll
      for (int r = 0; r < RK; ++r)
#pragma unroll
        for (int c = 0; c < CO; ++c) {
          dv[r][c] = fma_of(pr[r], gv[c], dv[r][c]);
          dk[r][c] = fma_of(dsr[r], qv[c], dk[r][c]);
        }
    }
  }

  T* gk = static_cast<T*>(a.gk) + bh * a.s * a.d;
  T* gv = static_cast<T*>(a.gv) + bh * a.s * a.dv;
#pragma unroll
  for (int r = 0; r < RK; ++r) {
    const int64_t j = k0 + ty + 8 * r;
    if (j >= a.s) continue;
#pragma unroll
    for (int c = 0; c < CO; ++c) {
      const int col = tx + 16 * c;
      if (col < a.d) store_acc(gk + j * a.d + col, dk[r][c]);
      if (col < a.dv) store_acc(gv + j * a.dv + col, dv[r][c]);
    }
  }
}

// ---- tensor-core (mma.sync) kernels --------------------------------------------------------
//
// m16n8k16 fragments, g = lane / 4, t = lane % 4 (PTX ISA, "Matrix Fragments for mma.m16n8k16"):
//   A (16 x 16): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16 x 8):  b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g)
//   C (16 x 8):  c0, c1 = (g, 2t..2t+1), c2, c3 = (g+8, 2t..2t+1)
// So the C fragments of two adjacent n-tiles are the A fragment of one k-step of the next
// product. ldmatrix.x4 loads four 8x8 matrices; lanes 8i..8i+7 give the row addresses of
// matrix i, and register i holds (row g, cols 2t..2t+1) of matrix i (.trans: its transpose).

constexpr int kMmaThreads = 128;
constexpr int kMmaRows = 64;  // stationary rows per CTA: 16 per warp

// Rows padded by 16 bytes: the 8 rows of an ldmatrix 8x8 matrix then start on distinct banks.
template <int HD> __host__ __device__ constexpr int mma_ld() { return HD + 8; }

template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t u;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    u = *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    u = *reinterpret_cast<const uint32_t*>(&h);
  }
  return u;
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void* p) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16 bytes global -> shared without a register round trip; src_size 0 writes zeros.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool fill) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(src), "r"(fill ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Fragment addresses (in elements from the tile start) for the lane's ldmatrix row.
// A operand, 16 rows from `row0`, k-step at column k0.
__device__ __forceinline__ int a_frag_offset(int ld, int row0, int k0, int lane) {
  return (row0 + (lane & 15)) * ld + k0 + (lane >> 4) * 8;
}
// B operand of two n-tiles (rows n0..n0+15 of a row-major [n][k] tile: K for Q.K^T), k-step k0:
// registers = b0, b1 of n-tile n0, then b0, b1 of n-tile n0 + 8.
__device__ __forceinline__ int b_frag_offset(int ld, int n0, int k0, int lane) {
  return (n0 + (lane >> 4) * 8 + (lane & 7)) * ld + k0 + ((lane >> 3) & 1) * 8;
}
// B operand from a row-major [k][n] tile (V for P.V) with ldmatrix.trans: keys k0..k0+15,
// columns n0..n0+15; registers = b0, b1 of n-tile n0, then of n-tile n0 + 8.
__device__ __forceinline__ int bt_frag_offset(int ld, int k0, int n0, int lane) {
  return (k0 + ((lane >> 3) & 1) * 8 + (lane & 7)) * ld + n0 + (lane >> 4) * 8;
}

// rows [row0, row0 + R) x cols [0, HD) of a head into padded shared memory, zero outside.
template <typename T, int R, int HD>
__device__ __forceinline__ void mma_stage(T* dst, const T* src, int64_t stride, int64_t row0, int64_t rows_end,
                                          int cols_end, bool vec) {
  constexpr int LD = mma_ld<HD>();
  if (vec) {
    constexpr int chunks = HD / 8;
    for (int e = threadIdx.x; e < R * chunks; e += kMmaThreads) {
      const int r = e / chunks, c = (e % chunks) * 8;
      const int64_t gr = row0 + r;
      const bool in = gr < rows_end && c < cols_end;  // cols_end is a multiple of 8 here
      cp_async16(dst + r * LD + c, in ? src + gr * stride + c : src, in);
    }
  } else {
    for (int e = threadIdx.x; e < R * HD; e += kMmaThreads) {
      const int r = e / HD, c = e % HD;
      const int64_t gr = row0 + r;
      dst[r * LD + c] = gr < rows_end && c < cols_end ? src[gr * stride + c] : convert<T>(0.0f);
    }
  }
}

// Columns col, col + 1 of a row of `cols` elements; one 32-bit store when both exist and align.
template <typename T> __device__ __forceinline__ void store2(T* row, int col, int cols, float v0, float v1) {
  if (col + 1 < cols && reinterpret_cast<uintptr_t>(row + col) % 4 == 0) {
    *reinterpret_cast<uint32_t*>(row + col) = pack2<T>(v0, v1);
  } else {
    if (col < cols) row[col] = convert<T>(v0);
    if (col + 1 < cols) row[col + 1] = convert<T>(v1);
  }
}

// acc[n-tile][4] += A(16 rows at row0 of `as`) . B^T over k in [0, ksteps * 16), where B is
// the row-major [n][k] tile `bs` (NT n-tiles of 8).
template <typename T, int NT, int LD>
__device__ __forceinline__ void mma_abt(float (&acc)[NT][4], const T* as, int row0, const T* bs, int ksteps, int lane) {
  for (int kk = 0; kk < ksteps; ++kk) {
    uint32_t af[4];
    ldsm_x4(af, as + a_frag_offset(LD, row0, kk * 16, lane));
#pragma unroll
    for (int nt = 0; nt < NT; nt += 2) {
      uint32_t bf[4];
      ldsm_x4(bf, bs + b_frag_offset(LD, nt * 8, kk * 16, lane));
      mma16816<T>(acc[nt], af, bf[0], bf[1]);
      mma16816<T>(acc[nt + 1], af, bf[2], bf[3]);
    }
  }
}

// acc[n-tile][4] += P . B where P (16 x 16*KS) is in registers as C fragments p[2*KS][4] and B
// is the row-major [k][n] tile `bs`; n-tiles at or beyond `ncols` are skipped.
template <typename T, int KS, int NO, int LD>
__device__ __forceinline__ void mma_pb(float (&acc)[NO][4], const float (&p)[2 * KS][4], const T* bs, int ncols,
                                       int lane) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    const uint32_t af[4] = {pack2<T>(p[2 * kk][0], p[2 * kk][1]), pack2<T>(p[2 * kk][2], p[2 * kk][3]),
                            pack2<T>(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                            pack2<T>(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int nt = 0; nt < NO; nt += 2) {
      if (nt * 8 >= ncols) break;
      uint32_t bf[4];
      ldsm_x4_trans(bf, bs + bt_frag_offset(LD, kk * 16, nt * 8, lane));
      mma16816<T>(acc[nt], af, bf[0], bf[1]);
      mma16816<T>(acc[nt + 1], af, bf[2], bf[3]);
    }
  }
}

template <int HD> constexpr size_t mma_forward_smem() { return size_t{3} * kMmaRows * mma_ld<HD>() * 2; }
template <int HD> constexpr size_t mma_dq_smem() { return size_t{4} * kMmaRows * mma_ld<HD>() * 2; }
// Query rows per tile of the dK/dV kernel: fewer at HD 128, where dK and dV take 128 registers.
template <int HD> __host__ __device__ constexpr int mma_dkdv_queries() { return HD > 64 ? 32 : 64; }
template <int HD> constexpr size_t mma_dkdv_smem() {
  constexpr size_t rows = size_t{2} * kMmaRows + 2 * mma_dkdv_queries<HD>();
  return rows * mma_ld<HD>() * 2 + 2 * mma_dkdv_queries<HD>() * sizeof(float);
}

template <typename T, int HD>
__global__ void __launch_bounds__(kMmaThreads) mma_forward_kernel(const Args a) {
  constexpr int BR = kMmaRows, BC = 64, LD = mma_ld<HD>(), NO = HD / 8, NS = BC / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* ks = qs + BR * LD;
  T* vs = ks + BC * LD;

  const int64_t tiles = ceil_div(a.t, BR);
  const int64_t bh = blockIdx.x / tiles;
  const int64_t q0 = (tiles - 1 - blockIdx.x % tiles) * BR;  // the longest causal blocks start first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const T* kg = head_ptr<T>(a.k, bh, a.heads);
  const T* vg = head_ptr<T>(a.v, bh, a.heads);
  const int64_t key_end = visible_end(a, (q0 + BR < a.t ? q0 + BR : a.t) - 1);
  mma_stage<T, BR, HD>(qs, head_ptr<T>(a.q, bh, a.heads), a.q.stride_t, q0, a.t, a.d, a.vec);
  if (key_end > 0) mma_stage<T, BC, HD>(ks, kg, a.k.stride_t, 0, a.s, a.d, a.vec);
  cp_async_commit();

  const int64_t wrow0 = q0 + warp * 16;  // this warp's first query row
  const int64_t row[2] = {wrow0 + g, wrow0 + g + 8};
  const bool active = wrow0 < a.t;  // warps past the last query only help stage tiles
  const float scale_log2 = static_cast<float>(a.scale) * kLog2e;
  const int dsteps = static_cast<int>(ceil_div(a.d, 16));
  float o[NO][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  for (int64_t k0 = 0; k0 < key_end; k0 += BC) {
    cp_async_wait_all();
    __syncthreads();  // the key tile has landed; every warp is done with the previous value tile
    mma_stage<T, BC, HD>(vs, vg, a.v.stride_t, k0, a.s, a.dv, a.vec);  // lands while Q.K^T runs
    cp_async_commit();
    float s[NS][4] = {};
    if (active) mma_abt<T, NS, LD>(s, qs, warp * 16, ks, dsteps, lane);
    cp_async_wait_all();
    __syncthreads();  // the value tile has landed; every warp is done with the key tile
    if (k0 + BC < key_end) mma_stage<T, BC, HD>(ks, kg, a.k.stride_t, k0 + BC, a.s, a.d, a.vec);
    cp_async_commit();
    if (!active) continue;

    if (k0 + BC > a.s || (a.causal && k0 + BC - 1 > wrow0 + a.shift)) {
#pragma unroll
      for (int nt = 0; nt < NS; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (!sees(a, row[e >> 1], k0 + nt * 8 + 2 * t4 + (e & 1))) s[nt][e] = -INFINITY;
    }
    // Online softmax; m is in raw-score units, and fmaxf ignores NaN like the CPU's row max.
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int nt = 0; nt < NS; ++nt) {
      mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
    }
    float base[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      base[h] = mx[h] == -INFINITY ? 0.f : mx[h] * scale_log2;  // no key seen yet: keep exp2 finite
      const float alpha = exp2f(m[h] * scale_log2 - base[h]);
      m[h] = mx[h];
      l[h] *= alpha;
#pragma unroll
      for (int dt = 0; dt < NO; ++dt) {
        o[dt][2 * h] *= alpha;
        o[dt][2 * h + 1] *= alpha;
      }
    }
#pragma unroll
    for (int nt = 0; nt < NS; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nt][e] = exp2f(fmaf(s[nt][e], scale_log2, -base[e >> 1]));
        l[e >> 1] += s[nt][e];
      }
    mma_pb<T, BC / 16, NO, LD>(o, s, vs, a.dv, lane);
  }
  cp_async_wait_all();

  T* out = static_cast<T*>(a.out) + bh * a.t * a.dv;
  float* lse = static_cast<float*>(a.lse) + bh * a.t;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    if (row[h] >= a.t) continue;
    // A row that sees no key gets zeros and lse = -inf, as on the CPU.
    const float inv = l[h] == 0.f ? 0.f : 1.f / l[h];
#pragma unroll
    for (int dt = 0; dt < NO; ++dt)
      store2(out + row[h] * a.dv, dt * 8 + 2 * t4, a.dv, o[dt][2 * h] * inv, o[dt][2 * h + 1] * inv);
    if (t4 == 0) lse[row[h]] = l[h] == 0.f ? -INFINITY : static_cast<float>(a.scale) * m[h] + logf(l[h]);
  }
}

template <typename T, int HD>
__global__ void __launch_bounds__(kMmaThreads) mma_dq_kernel(const Args a) {
  constexpr int BR = kMmaRows, BC = 64, LD = mma_ld<HD>(), NO = HD / 8, NS = BC / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* dos = qs + BR * LD;
  T* ks = dos + BR * LD;
  T* vs = ks + BC * LD;

  const int64_t tiles = ceil_div(a.t, BR);
  const int64_t bh = blockIdx.x / tiles;
  const int64_t q0 = (tiles - 1 - blockIdx.x % tiles) * BR;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const T* kg = head_ptr<T>(a.k, bh, a.heads);
  const T* vg = head_ptr<T>(a.v, bh, a.heads);
  const int64_t key_end = visible_end(a, (q0 + BR < a.t ? q0 + BR : a.t) - 1);
  mma_stage<T, BR, HD>(qs, head_ptr<T>(a.q, bh, a.heads), a.q.stride_t, q0, a.t, a.d, a.vec);
  mma_stage<T, BR, HD>(dos, head_ptr<T>(a.go, bh, a.heads), a.go.stride_t, q0, a.t, a.dv, a.vec);
  if (key_end > 0) {
    mma_stage<T, BC, HD>(ks, kg, a.k.stride_t, 0, a.s, a.d, a.vec);
    mma_stage<T, BC, HD>(vs, vg, a.v.stride_t, 0, a.s, a.dv, a.vec);
  }
  cp_async_commit();

  const int64_t wrow0 = q0 + warp * 16;
  const int64_t row[2] = {wrow0 + g, wrow0 + g + 8};
  const bool active = wrow0 < a.t;
  const float scale = static_cast<float>(a.scale), scale_log2 = scale * kLog2e;
  float lse2[2], dd[2];  // lse in log2 units
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    lse2[h] = row[h] < a.t ? static_cast<const float*>(a.lse)[bh * a.t + row[h]] * kLog2e : 0.f;
    dd[h] = row[h] < a.t ? static_cast<const float*>(a.row_dot)[bh * a.t + row[h]] : 0.f;
  }
  const int dsteps = static_cast<int>(ceil_div(a.d, 16)), vsteps = static_cast<int>(ceil_div(a.dv, 16));
  float dq[NO][4] = {};

  for (int64_t k0 = 0; k0 < key_end; k0 += BC) {
    cp_async_wait_all();
    __syncthreads();  // this key/value tile has landed
    if (active) {
      float s[NS][4] = {}, dp[NS][4] = {};
      mma_abt<T, NS, LD>(s, qs, warp * 16, ks, dsteps, lane);
      mma_abt<T, NS, LD>(dp, dos, warp * 16, vs, vsteps, lane);
      const bool mask = k0 + BC > a.s || wrow0 + 16 > a.t || (a.causal && k0 + BC - 1 > wrow0 + a.shift);
#pragma unroll
      for (int nt = 0; nt < NS; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const bool in = !mask || sees(a, row[e >> 1], k0 + nt * 8 + 2 * t4 + (e & 1));
          const float p = in ? exp2f(fmaf(s[nt][e], scale_log2, -lse2[e >> 1])) : 0.f;
          s[nt][e] = p * (dp[nt][e] - dd[e >> 1]) * scale;  // dS
        }
      mma_pb<T, BC / 16, NO, LD>(dq, s, ks, a.d, lane);
    }
    __syncthreads();  // every warp is done with this key/value tile
    if (k0 + BC < key_end) {
      mma_stage<T, BC, HD>(ks, kg, a.k.stride_t, k0 + BC, a.s, a.d, a.vec);
      mma_stage<T, BC, HD>(vs, vg, a.v.stride_t, k0 + BC, a.s, a.dv, a.vec);
    }
    cp_async_commit();
  }
  cp_async_wait_all();

  T* gq = static_cast<T*>(a.gq) + bh * a.t * a.d;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (row[h] >= a.t) continue;
#pragma unroll
    for (int dt = 0; dt < NO; ++dt) store2(gq + row[h] * a.d, dt * 8 + 2 * t4, a.d, dq[dt][2 * h], dq[dt][2 * h + 1]);
  }
}

// Transposed roles: each warp owns 16 keys; S^T = K.Q^T and dP^T = V.dO^T have queries as
// columns, so P^T and dS^T are directly the A operands of dV += P^T.dO and dK += dS^T.Q.
template <typename T, int HD>
__global__ void __launch_bounds__(kMmaThreads) mma_dkdv_kernel(const Args a) {
  constexpr int BC = kMmaRows, BR = mma_dkdv_queries<HD>(), LD = mma_ld<HD>(), NO = HD / 8, NQ = BR / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(smem_raw);
  T* vs = ks + BC * LD;
  T* qs = vs + BC * LD;
  T* dos = qs + BR * LD;
  float* lse_s = reinterpret_cast<float*>(dos + BR * LD);  // log2 units
  float* dd_s = lse_s + BR;

  const int64_t tiles = ceil_div(a.s, BC);
  const int64_t bh = blockIdx.x / tiles;
  const int64_t k0 = (blockIdx.x % tiles) * BC;  // early key blocks (the longest causal ones) start first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const T* qg = head_ptr<T>(a.q, bh, a.heads);
  const T* gog = head_ptr<T>(a.go, bh, a.heads);
  const float* lse = static_cast<const float*>(a.lse) + bh * a.t;
  const float* row_dot = static_cast<const float*>(a.row_dot) + bh * a.t;
  mma_stage<T, BC, HD>(ks, head_ptr<T>(a.k, bh, a.heads), a.k.stride_t, k0, a.s, a.d, a.vec);
  mma_stage<T, BC, HD>(vs, head_ptr<T>(a.v, bh, a.heads), a.v.stride_t, k0, a.s, a.dv, a.vec);
  cp_async_commit();

  const int64_t wkey0 = k0 + warp * 16;  // this warp's first key
  const int64_t key[2] = {wkey0 + g, wkey0 + g + 8};
  const bool active = wkey0 < a.s;
  const float scale = static_cast<float>(a.scale), scale_log2 = scale * kLog2e;
  const int dsteps = static_cast<int>(ceil_div(a.d, 16)), vsteps = static_cast<int>(ceil_div(a.dv, 16));
  float dk[NO][4] = {}, dv[NO][4] = {};

  for (int64_t q0 = first_query(a, k0) / BR * BR; q0 < a.t; q0 += BR) {
    __syncthreads();  // every warp is done with the previous query tile
    mma_stage<T, BR, HD>(qs, qg, a.q.stride_t, q0, a.t, a.d, a.vec);
    mma_stage<T, BR, HD>(dos, gog, a.go.stride_t, q0, a.t, a.dv, a.vec);
    cp_async_commit();
    for (int e = threadIdx.x; e < BR; e += kMmaThreads) {
      const bool in = q0 + e < a.t;
      lse_s[e] = in ? lse[q0 + e] * kLog2e : 0.f;
      dd_s[e] = in ? row_dot[q0 + e] : 0.f;
    }
    cp_async_wait_all();
    __syncthreads();
    if (!active) continue;
    float s[NQ][4] = {}, dp[NQ][4] = {};
    mma_abt<T, NQ, LD>(s, ks, warp * 16, qs, dsteps, lane);
    mma_abt<T, NQ, LD>(dp, vs, warp * 16, dos, vsteps, lane);
    const bool mask = q0 + BR > a.t || wkey0 + 16 > a.s || (a.causal && wkey0 + 15 > q0 + a.shift);
#pragma unroll
    for (int nt = 0; nt < NQ; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qi = nt * 8 + 2 * t4 + (e & 1);
        const bool in = !mask || sees(a, q0 + qi, key[e >> 1]);
        const float p = in ? exp2f(fmaf(s[nt][e], scale_log2, -lse_s[qi])) : 0.f;
        s[nt][e] = p;                                    // P^T
        dp[nt][e] = p * (dp[nt][e] - dd_s[qi]) * scale;  // dS^T
      }
    mma_pb<T, BR / 16, NO, LD>(dv, s, dos, a.dv, lane);
    mma_pb<T, BR / 16, NO, LD>(dk, dp, qs, a.d, lane);
  }
  cp_async_wait_all();

  T* gk = static_cast<T*>(a.gk) + bh * a.s * a.d;
  T* gv = static_cast<T*>(a.gv) + bh * a.s * a.dv;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (key[h] >= a.s) continue;
#pragma unroll
    for (int dt = 0; dt < NO; ++dt) {
      store2(gk + key[h] * a.d, dt * 8 + 2 * t4, a.d, dk[dt][2 * h], dk[dt][2 * h + 1]);
      store2(gv + key[h] * a.dv, dt * 8 + 2 * t4, a.dv, dv[dt][2 * h], dv[dt][2 * h + 1]);
    }
  }
}

// ---- backward preamble ----------------------------------------------------------------------

// row_dot[r] = dO_r . O_r for every (batch, head, query) row r: one warp per row.
template <typename T> __global__ void row_dot_kernel(const Args a) {
  using A = acc_t<T>;
  const int lane = threadIdx.x % 32;
  const int64_t rows = a.bh * a.t, warps = grid_stride() / 32;
  for (int64_t r = global_thread_index() / 32; r < rows; r += warps) {
    const int64_t bh = r / a.t, i = r % a.t;
    const T* go = head_ptr<T>(a.go, bh, a.heads) + i * a.go.stride_t;
    const T* o = head_ptr<T>(a.o, bh, a.heads) + i * a.o.stride_t;
    A acc = 0;
    for (int c = lane; c < a.dv; c += 32) acc = fma_of(load_acc(go + c), load_acc(o + c), acc);
    acc = warp_sum(acc);
    if (lane == 0) static_cast<A*>(a.row_dot)[r] = acc;
  }
}

// ============================================================================================
// launchers
// ============================================================================================

template <typename Kernel>
cudaError_t launch(Kernel kernel, int64_t blocks, int threads, size_t smem, cudaStream_t stream, const Args& a) {
  if (blocks <= 0) return cudaSuccess;
  if (blocks > INT32_MAX) return cudaErrorInvalidConfiguration;
  if (smem > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err != cudaSuccess) return err;
  }
  kernel<<<static_cast<unsigned>(blocks), threads, smem, stream>>>(a);
  return cudaGetLastError();
}

int head_tier(const AttentionProblem& p) {
  const int64_t d = p.d > p.dv ? p.d : p.dv;
  return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256;
}

// mma kernels exist for the 64 and 128 tiers (narrower heads run zero-padded in the 64 tier).
template <typename T> bool uses_mma(const AttentionProblem& p) {
  return is_half_v<T> && p.allow_tensor_cores && head_tier(p) <= 128;
}

template <typename T> size_t fma_smem_bytes(Kind kind, int hd) {
  return fma_smem_elems(kind, hd, fma_tile(kind, sizeof(acc_t<T>), hd)) * sizeof(acc_t<T>);
}

template <typename T, int HD> cudaError_t forward_fma(const Args& a, cudaStream_t stream) {
  constexpr Tile tile = fma_tile(Kind::Forward, sizeof(acc_t<T>), HD);
  return launch(fma_forward_kernel<T, HD>, a.bh * ceil_div(a.t, tile.br), kFmaThreads,
                fma_smem_bytes<T>(Kind::Forward, HD), stream, a);
}

template <typename T, int HD> cudaError_t forward_mma(const Args& a, cudaStream_t stream) {
  return launch(mma_forward_kernel<T, HD>, a.bh * ceil_div(a.t, kMmaRows), kMmaThreads, mma_forward_smem<HD>(),
                stream, a);
}

template <typename T, int HD> cudaError_t backward_fma(const Args& a, cudaStream_t stream) {
  constexpr Tile dq = fma_tile(Kind::Dq, sizeof(acc_t<T>), HD), dkdv = fma_tile(Kind::Dkdv, sizeof(acc_t<T>), HD);
  const cudaError_t err = launch(fma_dq_kernel<T, HD>, a.bh * ceil_div(a.t, dq.br), kFmaThreads,
                                 fma_smem_bytes<T>(Kind::Dq, HD), stream, a);
  if (err != cudaSuccess) return err;
  return launch(fma_dkdv_kernel<T, HD>, a.bh * ceil_div(a.s, dkdv.bc), kFmaThreads,
                fma_smem_bytes<T>(Kind::Dkdv, HD), stream, a);
}

template <typename T, int HD> cudaError_t backward_mma(const Args& a, cudaStream_t stream) {
  const cudaError_t err =
      launch(mma_dq_kernel<T, HD>, a.bh * ceil_div(a.t, kMmaRows), kMmaThreads, mma_dq_smem<HD>(), stream, a);
  if (err != cudaSuccess) return err;
  return launch(mma_dkdv_kernel<T, HD>, a.bh * ceil_div(a.s, kMmaRows), kMmaThreads, mma_dkdv_smem<HD>(), stream,
                a);
}

template <typename T> cudaError_t forward_typed(const AttentionProblem& p, const Args& a, cudaStream_t stream) {
  const int tier = head_tier(p);
  if constexpr (is_half_v<T>) {
    if (uses_mma<T>(p)) return tier <= 64 ? forward_mma<T, 64>(a, stream) : forward_mma<T, 128>(a, stream);
  }
  switch (tier) {
    case 32: return forward_fma<T, 32>(a, stream);
    case 64: return forward_fma<T, 64>(a, stream);
    case 128: return forward_fma<T, 128>(a, stream);
    default: return forward_fma<T, 256>(a, stream);
  }
}

template <typename T> cudaError_t backward_typed(const AttentionProblem& p, const Args& a, cudaStream_t stream) {
  const int64_t rows = a.bh * a.t;
  if (rows > 0) {
    row_dot_kernel<T><<<grid_for(rows * 32), kBlockSize, 0, stream>>>(a);
    if (const cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  }
  const int tier = head_tier(p);
  if constexpr (is_half_v<T>) {
    if (uses_mma<T>(p)) return tier <= 64 ? backward_mma<T, 64>(a, stream) : backward_mma<T, 128>(a, stream);
  }
  switch (tier) {
    case 32: return backward_fma<T, 32>(a, stream);
    case 64: return backward_fma<T, 64>(a, stream);
    case 128: return backward_fma<T, 128>(a, stream);
    default: return backward_fma<T, 256>(a, stream);
  }
}

bool rows_aligned16(const AttentionOperand& op) {
  return reinterpret_cast<uintptr_t>(op.data) % 16 == 0 && op.stride_b % 8 == 0 && op.stride_h % 8 == 0 &&
         op.stride_t % 8 == 0;
}

Args args_for(const AttentionProblem& p) {
  Args a;
  a.bh = p.batch * p.heads;
  a.heads = p.heads;
  a.t = p.t;
  a.s = p.s;
  a.shift = p.s - p.t;
  a.d = static_cast<int>(p.d);
  a.dv = static_cast<int>(p.dv);
  a.scale = p.scale;
  a.causal = p.causal;
  return a;
}

bool valid(const AttentionProblem& p) {
  return p.batch >= 0 && p.heads >= 0 && p.t >= 0 && p.s >= 0 && p.d >= 0 && p.dv >= 0 &&
         p.d <= kAttentionMaxHeadDim && p.dv <= kAttentionMaxHeadDim;
}

}  // namespace

cudaError_t attention_forward(const AttentionProblem& p, AttentionOperand q, AttentionOperand k, AttentionOperand v,
                              void* out, void* lse, cudaStream_t stream) {
  if (!valid(p)) return cudaErrorInvalidValue;
  if (p.batch * p.heads * p.t == 0) return cudaSuccess;
  Args a = args_for(p);
  a.q = q;
  a.k = k;
  a.v = v;
  a.out = out;
  a.lse = lse;
  a.vec = p.d % 8 == 0 && p.dv % 8 == 0 && rows_aligned16(q) && rows_aligned16(k) && rows_aligned16(v);
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(p.dtype, [&] { err = forward_typed<scalar_t>(p, a, stream); });
  return err;
}

cudaError_t attention_backward(const AttentionProblem& p, AttentionOperand grad_out, AttentionOperand q,
                               AttentionOperand k, AttentionOperand v, AttentionOperand out, const void* lse,
                               void* row_dot, void* grad_q, void* grad_k, void* grad_v, cudaStream_t stream) {
  if (!valid(p)) return cudaErrorInvalidValue;
  if (p.batch * p.heads * (p.t + p.s) == 0) return cudaSuccess;
  Args a = args_for(p);
  a.q = q;
  a.k = k;
  a.v = v;
  a.o = out;
  a.go = grad_out;
  a.lse = const_cast<void*>(lse);  // read only in the backward kernels
  a.row_dot = row_dot;
  a.gq = grad_q;
  a.gk = grad_k;
  a.gv = grad_v;
  a.vec = p.d % 8 == 0 && p.dv % 8 == 0 && rows_aligned16(q) && rows_aligned16(k) && rows_aligned16(v) &&
          rows_aligned16(grad_out);
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(p.dtype, [&] { err = backward_typed<scalar_t>(p, a, stream); });
  return err;
}

}  // namespace ts::kernels
