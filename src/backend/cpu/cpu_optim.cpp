// CPU optimizer updates: one fused pass over param, grad and state per tensor. The arithmetic
// follows PyTorch 1.13's op sequence (torch/optim/sgd.py, adam.py, adamw.py), each
// intermediate rounded to the parameter's dtype with the scalar coefficients cast to it, so
// trajectories match torch.optim to rounding. The option flags are template parameters: the
// inner loops carry no branches and vectorize.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

template <typename F>
void with_bool(bool b, F&& f) {
  if (b) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

// Kernels run on contiguous memory. A strided operand the kernel writes is updated through a
// dense copy that `finish` copies back (parameters are almost always contiguous already).
class DenseOperands {
 public:
  Tensor read(const Tensor& t) { return t.defined() ? cpu::dense(t) : t; }
  Tensor write(const Tensor& t) {
    if (!t.defined() || t.is_contiguous()) return t;
    Tensor d = cpu::dense(t);
    writeback_.emplace_back(d, t);
    return d;
  }
  void finish() {
    for (const auto& [d, original] : writeback_) cpu_backend().copy(d, original);
  }

 private:
  std::vector<std::pair<Tensor, Tensor>> writeback_;
};

template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

// ---- SGD --------------------------------------------------------------------------------------

enum class Momentum { None, Init, Update };

template <typename T>
struct SgdCoef {
  T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
};

template <typename T, bool kDecay, Momentum kMomentum, bool kNesterov>
void sgd_span(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n, const SgdCoef<T> c) {
  for (int64_t i = 0; i < n; ++i) {
    T d = c.sign * g[i];  // maximize: sign = -1 (exact)
    if constexpr (kDecay) d = d + c.weight_decay * p[i];
    if constexpr (kMomentum != Momentum::None) {
      T b;
      if constexpr (kMomentum == Momentum::Init) {
        b = d;  // torch.clone(d_p)
      } else {
        b = buf[i] * c.momentum + c.one_minus_dampening * d;
      }
      buf[i] = b;
      if constexpr (kNesterov) {
        d = d + c.momentum * b;
      } else {
        d = b;
      }
    }
    p[i] = p[i] + c.neg_lr * d;
  }
}

template <typename T>
void sgd_kernel(const Tensor& param, const Tensor& grad, const Tensor& buffer, const SgdUpdate& u) {
  const SgdCoef<T> c{static_cast<T>(u.maximize ? -1.0 : 1.0), static_cast<T>(u.weight_decay),
                     static_cast<T>(u.momentum), static_cast<T>(1.0 - u.dampening), static_cast<T>(-u.lr)};
  T* p = ptr<T>(param);
  const T* g = ptr<T>(grad);
  T* buf = ptr<T>(buffer);
  const Momentum mode = u.momentum == 0 ? Momentum::None : u.init_buffer ? Momentum::Init : Momentum::Update;
  auto run = [&](auto decay, auto nesterov, auto momentum) {
    parallel_for(0, param.numel(), cpu::kGrain, [&](int64_t lo, int64_t hi) {
      sgd_span<T, decltype(decay)::value, decltype(momentum)::value, decltype(nesterov)::value>(
          p + lo, g + lo, buf ? buf + lo : nullptr, hi - lo, c);
    });
  };
  with_bool(u.weight_decay != 0, [&](auto decay) {
    with_bool(u.nesterov, [&](auto nesterov) {
      switch (mode) {
        case Momentum::None:
          run(decay, std::false_type{}, std::integral_constant<Momentum, Momentum::None>{});
          break;
        case Momentum::Init:
          run(decay, nesterov, std::integral_constant<Momentum, Momentum::Init>{});
          break;
        case Momentum::Update:
          run(decay, nesterov, std::integral_constant<Momentum, Momentum::Update>{});
          break;
      }
    });
  });
}

// ---- Adam / AdamW -----------------------------------------------------------------------------

template <typename T>
struct AdamCoef {
  T sign, weight_decay, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
      neg_step_size;
};

// Elements per block. Each block takes three short passes over L1-resident data so the
// moment updates and the final division vectorize even when the compiler keeps std::sqrt
// scalar (it must, for errno, unless built with -fno-math-errno).
constexpr int64_t kAdamBlock = 256;

template <typename T, bool kL2, bool kAmsgrad>
void adam_span(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax, int64_t n,
               const AdamCoef<T> c) {
  T denom[kAdamBlock];
  for (int64_t start = 0; start < n; start += kAdamBlock) {
    const int64_t len = std::min(kAdamBlock, n - start);
    T* __restrict pb = p + start;
    const T* __restrict gb = g + start;
    T* __restrict mb = m + start;
    T* __restrict vb = v + start;
    for (int64_t i = 0; i < len; ++i) {
      T gi = c.sign * gb[i];
      const T pi = pb[i];
      if constexpr (kL2) gi = gi + c.weight_decay * pi;  // Adam: grad.add(param, alpha=weight_decay)
      pb[i] = pi * c.decay;                              // AdamW: param.mul_(1 - lr * weight_decay)
      mb[i] = mb[i] * c.beta1 + c.one_minus_beta1 * gi;
      const T vi = vb[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
      vb[i] = vi;
      if constexpr (kAmsgrad) {
        T* __restrict vm = vmax + start;
        const T best = (vi > vm[i] || vi != vi) ? vi : vm[i];  // torch.maximum propagates NaN
        vm[i] = best;
        denom[i] = best;
      } else {
        denom[i] = vi;
      }
    }
    for (int64_t i = 0; i < len; ++i) denom[i] = std::sqrt(denom[i]);
    for (int64_t i = 0; i < len; ++i) {
      const T d = denom[i] / c.bias_correction2_sqrt + c.eps;
      pb[i] = pb[i] + c.neg_step_size * (mb[i] / d);  // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
  }
}

template <typename T>
void adam_kernel(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor& max_exp_avg_sq, const AdamUpdate& u) {
  // Scalars are computed in double as Python floats are, then cast like a tensor-scalar op.
  const double step = static_cast<double>(u.step);
  const double bias_correction1 = 1.0 - std::pow(u.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(u.beta2, step);
  const double step_size = u.lr / bias_correction1;
  const bool l2 = !u.decoupled_weight_decay && u.weight_decay != 0;
  const AdamCoef<T> c{static_cast<T>(u.maximize ? -1.0 : 1.0),
                      static_cast<T>(u.weight_decay),
                      static_cast<T>(u.decoupled_weight_decay ? 1.0 - u.lr * u.weight_decay : 1.0),
                      static_cast<T>(u.beta1),
                      static_cast<T>(1.0 - u.beta1),
                      static_cast<T>(u.beta2),
                      static_cast<T>(1.0 - u.beta2),
                      static_cast<T>(std::sqrt(bias_correction2)),
                      static_cast<T>(u.eps),
                      static_cast<T>(-step_size)};
  T* p = ptr<T>(param);
  const T* g = ptr<T>(grad);
  T* m = ptr<T>(exp_avg);
  T* v = ptr<T>(exp_avg_sq);
  T* vmax = ptr<T>(max_exp_avg_sq);
  with_bool(l2, [&](auto l2_c) {
    with_bool(u.amsgrad, [&](auto amsgrad_c) {
      parallel_for(0, param.numel(), cpu::kGrain, [&](int64_t lo, int64_t hi) {
        adam_span<T, decltype(l2_c)::value, decltype(amsgrad_c)::value>(p + lo, g + lo, m + lo, v + lo,
                                                                        vmax ? vmax + lo : nullptr, hi - lo, c);
      });
    });
  });
}

}  // namespace

void CpuBackend::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                            const SgdUpdate& u) {
  DenseOperands ops;
  const Tensor p = ops.write(param), g = ops.read(grad), buf = ops.write(momentum_buffer);
  TS_DISPATCH_FLOATING(p.dtype(), "sgd_update", [&] { sgd_kernel<scalar_t>(p, g, buf, u); });
  ops.finish();
}

void CpuBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                             const Tensor& max_exp_avg_sq, const AdamUpdate& u) {
  DenseOperands ops;
  const Tensor p = ops.write(param), g = ops.read(grad), m = ops.write(exp_avg), v = ops.write(exp_avg_sq),
               vmax = ops.write(max_exp_avg_sq);
  TS_DISPATCH_FLOATING(p.dtype(), "adam_update", [&] { adam_kernel<scalar_t>(p, g, m, v, vmax, u); });
  ops.finish();
}

}  // namespace ts
