#pragma once
// What the CUDA tests (tests/cuda/test_cuda_*.cpp) share: the devices and dtype lists,
// per-dtype tolerances, CUDA-against-CPU comparisons, random inputs on both devices, operand
// layouts (misaligned, strided and broadcast views) and scoped settings (environment, TF32).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tessera/tessera.h>

namespace ts::cuda_test {

inline const Device kCpu(DeviceType::CPU);
inline const Device kCuda(DeviceType::CUDA, 0);

inline constexpr DType kFloatTypes[] = {kFloat64, kFloat32, kFloat16, kBFloat16};
inline constexpr DType kAllTypes[] = {kFloat64, kFloat32, kFloat16, kBFloat16, kInt32, kInt64, kUInt8, kBool};

// ---- tolerances and comparisons ---------------------------------------------------------------

/// The relative allowance for a CUDA result against the CPU's in each dtype (both round to the
/// dtype; sums may run in another order); 0, exact, for integers and bool.
inline double tolerance(DType dt) {
  switch (dt) {
    case DType::Float64: return 1e-10;
    case DType::Float32: return 1e-5;
    case DType::Float16: return 1e-2;
    case DType::BFloat16: return 5e-2;
    default: return 0.0;
  }
}

/// REQUIREs that `cuda_result` is a CUDA tensor with the shape and dtype of `cpu_result`.
inline void require_same_meta(const Tensor& cuda_result, const Tensor& cpu_result) {
  REQUIRE(cuda_result.device().is_cuda());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  REQUIRE(cuda_result.dtype() == cpu_result.dtype());
}

/// What require_close divides the sum of squares of the expected tensor's finite elements by to
/// get its RMS: the element count (non-finite elements count as zero), or the finite elements'.
enum class RmsOver { AllElements, FiniteElements };

/// REQUIREs |cuda - cpu| <= tol * (|cpu| + rms(cpu)) elementwise: relative, with the expected
/// tensor's typical magnitude as the floor (a dot product's rounding error scales with its terms,
/// not its sum); tol 0 is exact. Equal values (infinities included) and NaN against NaN match.
inline void require_close(const Tensor& cuda_result, const Tensor& cpu_result, double tol,
                          RmsOver rms_over = RmsOver::AllElements) {
  require_same_meta(cuda_result, cpu_result);
  const auto got = cuda_result.to(kCpu).to_vector<double>();
  const auto want = cpu_result.to(kCpu).to_vector<double>();
  double sq = 0;
  size_t finite = 0;
  for (double w : want)
    if (std::isfinite(w)) {
      sq += w * w;
      ++finite;
    }
  const size_t count = rms_over == RmsOver::FiniteElements ? finite : want.size();
  const double rms = count == 0 ? 0.0 : std::sqrt(sq / static_cast<double>(count));
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]));
    if (!same && !(std::abs(got[i] - want[i]) <= tol * (std::abs(want[i]) + rms))) {
      if (bad++ == 0) first_bad = i;
    }
  }
  INFO(dtype_name(cpu_result.dtype()) << " " << shape_str(cpu_result.shape()) << ": " << bad << " of " << got.size()
                                      << " elements differ; first at " << first_bad << ": cuda "
                                      << (bad ? got[first_bad] : 0.0) << ", cpu " << (bad ? want[first_bad] : 0.0)
                                      << " (rms " << rms << ", tol " << tol << ")");
  REQUIRE(bad == 0);
}

/// REQUIREs that the CUDA tensor `gpu` holds the CPU result `cpu`: same dtype and shape, every
/// element within tol * (1 + |expected|) (tol < 0: tolerance(dtype)), NaN where NaN is expected,
/// infinities exactly.
inline void require_match(const Tensor& gpu, const Tensor& cpu, double tol = -1) {
  require_same_meta(gpu, cpu);
  const double t = tol < 0 ? tolerance(cpu.dtype()) : tol;
  const std::vector<double> a = gpu.to(kCpu).to_vector<double>(), e = cpu.to_vector<double>();
  for (size_t i = 0; i < e.size(); ++i) {
    const bool ok = a[i] == e[i] || (std::isnan(a[i]) && std::isnan(e[i])) ||
                    (std::isfinite(e[i]) && std::abs(a[i] - e[i]) <= t * (1 + std::abs(e[i])));
    if (!ok)
      FAIL(fmt::format("element {} of {}: cuda {} vs cpu {} (tol {})", i, shape_str(cpu.shape()), a[i], e[i], t));
  }
}

/// max |got - ref| / max |ref| (`got` on any device, `ref` on the CPU).
inline double max_rel_err(const Tensor& got, const Tensor& ref) {
  const auto g = got.to(kCpu).to_vector<double>();
  const auto r = ref.to_vector<double>();
  double err = 0, scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    err = std::max(err, std::abs(g[i] - r[i]));
    scale = std::max(scale, std::abs(r[i]));
  }
  return err / scale;
}

// ---- inputs on both devices ---------------------------------------------------------------------

using ViewFn = std::function<Tensor(const Tensor&)>;

/// The same values (or the same view of them) on the CPU and on the GPU.
struct Pair {
  Tensor cpu, cuda;
};
inline Pair on_both(const Tensor& cpu) { return {cpu, cpu.to(kCuda)}; }
inline Pair on_both(const Tensor& cpu_base, const ViewFn& view) { return {view(cpu_base), view(cpu_base.to(kCuda))}; }

/// N(0, 1) values rounded to `dt`, on both devices.
inline Pair random_pair(const Shape& shape, DType dt) { return on_both(randn(shape, kFloat64).to(dt)); }

/// A CPU leaf and an identical CUDA leaf, both requiring grad when `grad` is set.
inline Pair leaf_pair(const Tensor& cpu_values, bool grad = true) {
  Pair p{cpu_values.detach().clone(), cpu_values.detach().to(kCuda)};
  if (grad) {
    p.cpu.requires_grad_(true);
    p.cuda.requires_grad_(true);
  }
  return p;
}

/// Leaves requiring grad holding N(0, 1) values rounded to `dt`.
inline Pair random_leaf_pair(const Shape& shape, DType dt) { return leaf_pair(randn(shape, kFloat64).to(dt)); }

/// Random values of `dt` on the CPU: N(0, 1.5) for floats, integers in [-50, 50) ([0, 100)
/// for uint8), bools.
inline Tensor random_values(const Shape& shape, DType dt) {
  NoGradGuard no_grad;
  if (dt == kBool) return rand(shape, kFloat64) < 0.5;
  if (!is_floating_point(dt)) {
    const int64_t low = dt == kUInt8 ? 0 : -50;
    return randint(low, low + 100, shape, TensorOptions(dt));
  }
  return (randn(shape, kFloat64) * 1.5).to(dt);
}

/// As random_values, but floats are multiples of 1/4 in (-6, 6): exact in every float dtype,
/// with many ties (for comparisons, max and min).
inline Tensor random_quarters(const Shape& shape, DType dt) {
  NoGradGuard no_grad;
  if (!is_floating_point(dt)) return random_values(shape, dt);
  return ((rand(shape, kFloat64) * 48.0 - 24.0).to(kInt64).to(kFloat64) / 4.0).to(dt);
}

// ---- operand layouts ----------------------------------------------------------------------------

/// One way to lay out an operand: the shape of a base tensor and the view taken of it (the same
/// function on each device).
struct Layout {
  std::string name;
  Shape base;
  ViewFn view;
};

inline Layout contiguous_layout(const Shape& s) {
  return {"contiguous", s, [](const Tensor& t) { return t; }};
}

/// Contiguous, but element 0 sits one element past an aligned address.
inline Layout misaligned_layout(const Shape& s) {
  const int64_t n = numel_of(s);
  return {"misaligned", {n + 1}, [n, s](const Tensor& t) { return t.slice(0, 1, n + 1).view(s); }};
}

/// Every other element along the last dim of a base twice as long there.
inline Layout strided_layout(const Shape& s) {
  const auto last = static_cast<int64_t>(s.size()) - 1;
  const int64_t n = s.back();
  Shape base = s;
  base.back() = 2 * n;
  return {"strided", base, [last, n](const Tensor& t) { return t.slice(last, 0, 2 * n, 2); }};
}

/// A base of size 1 along `dim`, expanded to `s` (stride 0 there).
inline Layout broadcast_layout(const Shape& s, size_t dim) {
  Shape base = s;
  base[dim] = 1;
  return {"broadcast", base, [s](const Tensor& t) { return t.expand(s); }};
}

// ---- scoped settings ----------------------------------------------------------------------------

/// Sets an environment variable (or unsets it, for a null value) for a scope, restoring its
/// previous state afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* v = std::getenv(name)) previous_ = v;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (previous_) {
      setenv(name_.c_str(), previous_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

/// Allows (or forbids) TF32 for float32 GEMMs and convolutions for a scope.
struct TF32Guard {
  bool prev = cuda::allow_tf32();
  explicit TF32Guard(bool on) { cuda::set_allow_tf32(on); }
  ~TF32Guard() { cuda::set_allow_tf32(prev); }
  TF32Guard(const TF32Guard&) = delete;
  TF32Guard& operator=(const TF32Guard&) = delete;
};

/// The backend's reduce on x's device, with a keepdim output of x's dtype (every op on every
/// dtype, including Max/Min over dim sets, which the public ops reach only through others).
inline Tensor raw_reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims) {
  Shape shape = x.shape();
  for (int64_t d : dims) shape[static_cast<size_t>(d)] = 1;
  Tensor out = make_tensor(shape, x.dtype(), x.device());
  backend_for(x).reduce(op, x, dims, out);
  return out;
}

/// Products that neither overflow nor vanish: 1 + N(0, 0.01) for floats, +-1 for signed
/// integers, {1, 2} for uint8 (wrapping identically on both devices), bools.
inline Tensor prod_values(const Shape& shape, DType dt) {
  NoGradGuard no_grad;
  if (is_floating_point(dt)) return (randn(shape, kFloat64) * 0.01 + 1.0).to(dt);
  if (dt == kBool) return rand(shape, kFloat64) < 0.9;
  if (dt == kUInt8) return randint(1, 3, shape, TensorOptions(dt));
  return (randint(0, 2, shape, TensorOptions(dt)) * 2 - 1).to(dt);
}

}  // namespace ts::cuda_test
