// Fused SGD and Adam/AdamW updates, one thread per element (grid-stride), mirroring
// src/backend/cpu/cpu_optim.cpp operation for operation. The CPU build evaluates each
// multiply and add separately (ISO C++ mode: no FP contraction), so these kernels use the
// explicitly rounded intrinsics (__fmul_rn, __dadd_rn, ...) that nvcc never fuses into FMAs:
// GPU and CPU trajectories then agree bit for bit. The option flags are template parameters.
#include <cmath>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/optim.h"

namespace ts::kernels {
namespace {

// ---- kernels ----------------------------------------------------------------------------------

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }

// Element offsets of linear index i in the first N operands of g.
template <int N> __device__ __forceinline__ void offsets(const ElementwiseGeometry& g, int64_t i, int64_t (&off)[N]) {
  if (g.contiguous) {
    for (int k = 0; k < N; ++k) off[k] = i;
    return;
  }
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t c = i % g.sizes[d];
    i /= g.sizes[d];
    for (int k = 0; k < N; ++k) off[k] += c * g.strides[k][d];
  }
}

__device__ __forceinline__ int64_t layout_offset(const StridedLayout& l, int64_t i) {
  if (l.ndim == 1 && l.strides[0] == 1) return i;
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    off += (i % l.sizes[d]) * l.strides[d];
    i /= l.sizes[d];
  }
  return off;
}

enum class Momentum { None, Init, Update };

template <typename T> struct SgdCoef {
  T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
};

template <typename T, bool kDecay, Momentum kMomentum, bool kNesterov>
__global__ void sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf,
                           const ElementwiseGeometry geo, const SgdCoef<T> c) {
  constexpr int kOperands = kMomentum == Momentum::None ? 2 : 3;
  for (int64_t i = global_thread_index(); i < geo.numel; i += grid_stride()) {
    int64_t off[kOperands];
    offsets(geo, i, off);
    T d = mul_rn(c.sign, g[off[1]]);  // maximize: sign = -1 (exact)
    if constexpr (kDecay) d = add_rn(d, mul_rn(c.weight_decay, p[off[0]]));
    if constexpr (kMomentum != Momentum::None) {
      T b;
      if constexpr (kMomentum == Momentum::Init) {
        b = d;  // torch.clone(d_p)
      } else {
        b = add_rn(mul_rn(buf[off[2]], c.momentum), mul_rn(c.one_minus_dampening, d));
      }
      buf[off[2]] = b;
      if constexpr (kNesterov) {
        d = add_rn(d, mul_rn(c.momentum, b));
      } else {
        d = b;
      }
    }
    p[off[0]] = add_rn(p[off[0]], mul_rn(c.neg_lr, d));
  }
}

template <typename T> struct AdamCoef {
  T sign, weight_decay, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
      neg_step_size;
};

template <typename T, bool kL2, bool kAmsgrad>
__global__ void adam_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            T* __restrict__ vmax, const ElementwiseGeometry geo, const StridedLayout max_layout,
                            const AdamCoef<T> c) {
  for (int64_t i = global_thread_index(); i < geo.numel; i += grid_stride()) {
    int64_t off[4];
    offsets(geo, i, off);
    T gi = mul_rn(c.sign, g[off[1]]);
    const T pi = p[off[0]];
    if constexpr (kL2) gi = add_rn(gi, mul_rn(c.weight_decay, pi));  // Adam: grad.add(param, alpha=weight_decay)
    const T decayed = mul_rn(pi, c.decay);                           // AdamW: param.mul_(1 - lr * weight_decay)
    const T mi = add_rn(mul_rn(m[off[2]], c.beta1), mul_rn(c.one_minus_beta1, gi));
    m[off[2]] = mi;
    const T vi = add_rn(mul_rn(v[off[3]], c.beta2), mul_rn(mul_rn(c.one_minus_beta2, gi), gi));
    v[off[3]] = vi;
    T best = vi;
    if constexpr (kAmsgrad) {
      T* vm = vmax + layout_offset(max_layout, i);
      const T prev = *vm;
      best = (vi > prev || vi != vi) ? vi : prev;  // torch.maximum propagates NaN
      *vm = best;
    }
    const T denom = add_rn(div_rn(sqrt_rn(best), c.bias_correction2_sqrt), c.eps);
    p[off[0]] = add_rn(decayed, mul_rn(c.neg_step_size, div_rn(mi, denom)));  // addcdiv_(m, denom, -step_size)
  }
}

// ---- launchers --------------------------------------------------------------------------------

template <bool B> using Bool = std::integral_constant<bool, B>;
template <Momentum M> using MomentumC = std::integral_constant<Momentum, M>;

template <typename F> void with_bool(bool b, F&& f) {
  if (b) {
    f(Bool<true>{});
  } else {
    f(Bool<false>{});
  }
}

template <typename T>
void launch_sgd(T* p, const T* g, T* buf, const ElementwiseGeometry& geo, const SgdStep& s, cudaStream_t stream) {
  // Coefficients are cast from double exactly as the CPU backend casts them.
  const SgdCoef<T> c{static_cast<T>(s.maximize ? -1.0 : 1.0), static_cast<T>(s.weight_decay),
                     static_cast<T>(s.momentum), static_cast<T>(1.0 - s.dampening), static_cast<T>(-s.lr)};
  const unsigned blocks = grid_for(geo.numel);
  auto run = [&](auto decay, auto mode, auto nesterov) {
    sgd_kernel<T, decltype(decay)::value, decltype(mode)::value, decltype(nesterov)::value>
        <<<blocks, kBlockSize, 0, stream>>>(p, g, buf, geo, c);
  };
  with_bool(s.weight_decay != 0, [&](auto decay) {
    if (s.momentum == 0) {
      run(decay, MomentumC<Momentum::None>{}, Bool<false>{});
      return;
    }
    with_bool(s.nesterov, [&](auto nesterov) {
      if (s.init_buffer) {
        run(decay, MomentumC<Momentum::Init>{}, nesterov);
      } else {
        run(decay, MomentumC<Momentum::Update>{}, nesterov);
      }
    });
  });
}

template <typename T>
void launch_adam(T* p, const T* g, T* m, T* v, T* vmax, const ElementwiseGeometry& geo, const StridedLayout& max_layout,
                 const AdamStep& s, cudaStream_t stream) {
  // Scalars in double as Python floats are, then cast like a tensor-scalar op (as the CPU does).
  const double step = static_cast<double>(s.step);
  const double bias_correction1 = 1.0 - std::pow(s.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(s.beta2, step);
  const double step_size = s.lr / bias_correction1;
  const bool l2 = !s.decoupled_weight_decay && s.weight_decay != 0;
  const AdamCoef<T> c{static_cast<T>(s.maximize ? -1.0 : 1.0),
                      static_cast<T>(s.weight_decay),
                      static_cast<T>(s.decoupled_weight_decay ? 1.0 - s.lr * s.weight_decay : 1.0),
                      static_cast<T>(s.beta1),
                      static_cast<T>(1.0 - s.beta1),
                      static_cast<T>(s.beta2),
                      static_cast<T>(1.0 - s.beta2),
                      static_cast<T>(std::sqrt(bias_correction2)),
                      static_cast<T>(s.eps),
                      static_cast<T>(-step_size)};
  const unsigned blocks = grid_for(geo.numel);
  with_bool(l2, [&](auto l2_c) {
    with_bool(s.amsgrad, [&](auto amsgrad_c) {
      adam_kernel<T, decltype(l2_c)::value, decltype(amsgrad_c)::value>
          <<<blocks, kBlockSize, 0, stream>>>(p, g, m, v, vmax, geo, max_layout, c);
    });
  });
}

}  // namespace

cudaError_t sgd_update(void* param, const void* grad, void* momentum_buffer, const ElementwiseGeometry& g,
                       const SgdStep& step, ScalarType type, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  if (step.momentum != 0 && (!momentum_buffer || g.num_operands < 3)) return cudaErrorInvalidValue;
  switch (type) {
    case ScalarType::F32:
      launch_sgd(static_cast<float*>(param), static_cast<const float*>(grad), static_cast<float*>(momentum_buffer), g,
                 step, stream);
      break;
    case ScalarType::F64:
      launch_sgd(static_cast<double*>(param), static_cast<const double*>(grad), static_cast<double*>(momentum_buffer),
                 g, step, stream);
      break;
    default: return cudaErrorInvalidValue;  // float32 / float64 only, as on the CPU
  }
  return cudaGetLastError();
}

cudaError_t adam_update(void* param, const void* grad, void* exp_avg, void* exp_avg_sq, void* max_exp_avg_sq,
                        const ElementwiseGeometry& g, const StridedLayout& max_layout, const AdamStep& step,
                        ScalarType type, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  if (g.num_operands < 4 || (step.amsgrad && !max_exp_avg_sq)) return cudaErrorInvalidValue;
  switch (type) {
    case ScalarType::F32:
      launch_adam(static_cast<float*>(param), static_cast<const float*>(grad), static_cast<float*>(exp_avg),
                  static_cast<float*>(exp_avg_sq), static_cast<float*>(max_exp_avg_sq), g, max_layout, step, stream);
      break;
    case ScalarType::F64:
      launch_adam(static_cast<double*>(param), static_cast<const double*>(grad), static_cast<double*>(exp_avg),
                  static_cast<double*>(exp_avg_sq), static_cast<double*>(max_exp_avg_sq), g, max_layout, step,
                  stream);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace ts::kernels
