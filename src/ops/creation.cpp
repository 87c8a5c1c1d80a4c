// Factories and the global counter-based random generator.
#include <atomic>
#include <cmath>
#include <mutex>

#include "ops/op_utils.h"

namespace ts {

namespace {
Tensor finish(Tensor t, const TensorOptions& opts) {
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions opts) { return finish(make_tensor(shape, opts.dtype, opts.device), opts); }

Tensor full(const Shape& shape, const Scalar& value, TensorOptions opts) {
  Tensor t = make_tensor(shape, opts.dtype, opts.device);
  backend_for(opts.device).fill(t, value.to_double());
  return finish(t, opts);
}

Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1, opts); }
Tensor empty_like(const Tensor& t) { return make_tensor(t.shape(), t.dtype(), t.device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor full_like(const Tensor& t, const Scalar& v) { return full(t.shape(), v, TensorOptions(t.dtype()).with_device(t.device())); }

Tensor scalar_tensor(const Scalar& value, TensorOptions opts) {
  if (!opts.has_dtype) opts.with_dtype(value.is_bool() ? kBool : value.is_integral() ? kInt64 : kDefaultFloat);
  return full({}, value, opts);
}

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions opts) {
  const double s = start.to_double(), e = end.to_double(), st = step.to_double();
  TS_CHECK(st != 0, "arange: step must be nonzero");
  TS_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange: upper bound {} and lower bound {} inconsistent with step {}",
           e, s, st);
  const auto n = static_cast<int64_t>(std::ceil((e - s) / st));
  // Computed in float64 on the host then converted: exact for every integer range we allow.
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = s + static_cast<double>(i) * st;
  Tensor t = tensor(v, {n}, TensorOptions(kFloat64).with_device(opts.device));
  return finish(ops::cast(t, opts.dtype), opts);
}

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step) {
  const bool integral = start.is_integral() && end.is_integral() && step.is_integral();
  return arange(start, end, step, TensorOptions(integral ? kInt64 : kDefaultFloat));
}
Tensor arange(const Scalar& end, TensorOptions opts) { return arange(0, end, 1, opts); }
Tensor arange(const Scalar& end) { return arange(0, end, 1); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  TS_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got {}", steps);
  std::vector<double> v(static_cast<size_t>(steps));
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Symmetric evaluation (from both ends) like PyTorch, so the last value is exactly `end`.
  for (int64_t i = 0; i < steps; ++i)
    v[static_cast<size_t>(i)] = i < steps / 2 ? start + step * static_cast<double>(i)
                                              : end - step * static_cast<double>(steps - 1 - i);
  return finish(ops::cast(tensor(v, {steps}, TensorOptions(kFloat64).with_device(opts.device)), opts.dtype), opts);
}

Tensor eye(int64_t n, int64_t m, TensorOptions opts) {
  TS_CHECK(n >= 0 && m >= 0, "eye: sizes must be non-negative, got {} and {}", n, m);
  std::vector<double> v(static_cast<size_t>(n * m), 0.0);
  for (int64_t i = 0; i < std::min(n, m); ++i) v[static_cast<size_t>(i * m + i)] = 1.0;
  return finish(ops::cast(tensor(v, {n, m}, TensorOptions(kFloat64).with_device(opts.device)), opts.dtype), opts);
}
Tensor eye(int64_t n, TensorOptions opts) { return eye(n, n, opts); }

template <typename T> Tensor tensor(const std::vector<T>& data, const Shape& shape_in, TensorOptions opts) {
  // Like torch::tensor({...}): no shape means 1-D, even for one value (0-d: scalar_tensor()).
  const Shape shape = shape_in.empty() ? Shape{static_cast<int64_t>(data.size())} : shape_in;
  TS_CHECK(numel_of(shape) == static_cast<int64_t>(data.size()), "tensor: {} values do not fill shape {} ({} elements)",
           data.size(), shape_str(shape), numel_of(shape));
  // Host data lands in a CPU tensor of its own type, then converts/moves as asked.
  Tensor host = make_tensor(shape, dtype_of_v<T>, Device());
  if (!data.empty()) {
    if constexpr (std::is_same_v<T, bool>) {
      auto* p = static_cast<bool*>(host.raw_data());
      for (size_t i = 0; i < data.size(); ++i) p[i] = data[i];
    } else {
      std::memcpy(host.raw_data(), data.data(), data.size() * sizeof(T));
    }
  }
  const DType dt = opts.has_dtype ? opts.dtype : dtype_of_v<T>;
  return finish(ops::cast(host, dt).to(opts.device), opts);
}

#define TS_INSTANTIATE_TENSOR(T) template Tensor tensor<T>(const std::vector<T>&, const Shape&, TensorOptions);
TS_INSTANTIATE_TENSOR(float)
TS_INSTANTIATE_TENSOR(double)
TS_INSTANTIATE_TENSOR(int32_t)
TS_INSTANTIATE_TENSOR(int64_t)
TS_INSTANTIATE_TENSOR(uint8_t)
TS_INSTANTIATE_TENSOR(bool)
TS_INSTANTIATE_TENSOR(Half)
TS_INSTANTIATE_TENSOR(BFloat16)
#undef TS_INSTANTIATE_TENSOR

Tensor from_blob(void* data, const Shape& shape, const Strides& strides, DType dtype, std::function<void(void*)> deleter,
                 Device device) {
  TS_CHECK(strides.size() == shape.size(), "from_blob: {} strides given for shape {}", strides.size(), shape_str(shape));
  int64_t extent = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    TS_CHECK(shape[i] >= 0 && strides[i] >= 0, "from_blob: negative size or stride in shape {} strides {}",
             shape_str(shape), shape_str(strides));
    if (shape[i] == 0) extent = 0;
    if (extent > 0) extent += (shape[i] - 1) * strides[i];
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(data, static_cast<size_t>(extent) * element_size(dtype), device,
                                            std::move(deleter));
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter, Device device) {
  return from_blob(data, shape, contiguous_strides(shape), dtype, std::move(deleter), device);
}

// ---- random ------------------------------------------------------------------------------------

namespace {
struct GlobalGenerator {
  std::mutex mutex;
  uint64_t seed = 0x853c49e6748fea9bull;
  uint64_t offset = 0;
};
GlobalGenerator& generator() {
  static GlobalGenerator g;
  return g;
}
}  // namespace

void manual_seed(uint64_t seed) {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.seed = seed;
  g.offset = 0;
}

std::pair<uint64_t, uint64_t> next_philox_offset(uint64_t n) {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  const uint64_t off = g.offset;
  g.offset += n;
  return {g.seed, off};
}

std::pair<uint64_t, uint64_t> get_rng_state() {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  return {g.seed, g.offset};
}

void set_rng_state(std::pair<uint64_t, uint64_t> state) {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.seed = state.first;
  g.offset = state.second;
}

Tensor& uniform_(Tensor& t, double low, double high) {
  TS_CHECK(low <= high, "uniform_: expects low <= high, got {} > {}", low, high);
  NoGradGuard g;
  Tensor dst = ops::dense(t);
  auto [seed, offset] = next_philox_offset(static_cast<uint64_t>(t.numel()));
  backend_for(t).fill_uniform(dst, low, high, seed, offset);
  if (!dst.is_same(t)) t.copy_(dst);
  t.storage()->bump_version();
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std) {
  TS_CHECK(std >= 0, "normal_: expects std >= 0, got {}", std);
  NoGradGuard g;
  Tensor dst = ops::dense(t);
  auto [seed, offset] = next_philox_offset(static_cast<uint64_t>(t.numel()));
  backend_for(t).fill_normal(dst, mean, std, seed, offset);
  if (!dst.is_same(t)) t.copy_(dst);
  t.storage()->bump_version();
  return t;
}

Tensor rand(const Shape& shape, TensorOptions opts) {
  TS_CHECK(is_floating_point(opts.dtype), "rand: expected a floating-point dtype, got {}", dtype_name(opts.dtype));
  Tensor t = make_tensor(shape, opts.dtype, opts.device);
  uniform_(t, 0.0, 1.0);
  return finish(t, opts);
}

Tensor randn(const Shape& shape, TensorOptions opts) {
  TS_CHECK(is_floating_point(opts.dtype), "randn: expected a floating-point dtype, got {}", dtype_name(opts.dtype));
  Tensor t = make_tensor(shape, opts.dtype, opts.device);
  normal_(t, 0.0, 1.0);
  return finish(t, opts);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts) {
  TS_CHECK(low < high, "randint: expected low < high, got low={} high={}", low, high);
  Tensor u = make_tensor(shape, kFloat64, opts.device);
  uniform_(u, 0.0, 1.0);
  NoGradGuard g;
  // floor(low + u * (high - low)) in float64: exact for ranges below 2^52.
  Tensor r = clamp(ops::cast(u * static_cast<double>(high - low), kInt64) + low, low, high - 1);
  return ops::cast(r, opts.dtype);
}

Tensor randperm(int64_t n, TensorOptions opts) {
  TS_CHECK(n >= 0, "randperm: n must be non-negative, got {}", n);
  // Sort random keys: a uniformly random permutation that only depends on the generator.
  Tensor keys = rand({n}, kFloat64);
  std::vector<double> k = keys.to_vector<double>();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return k[static_cast<size_t>(a)] < k[static_cast<size_t>(b)]; });
  return ops::cast(tensor(idx, {n}, kInt64), opts.dtype).to(opts.device);
}

Tensor rand_like(const Tensor& t) { return rand(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor randn_like(const Tensor& t) { return randn(t.shape(), TensorOptions(t.dtype()).with_device(t.device())); }

}  // namespace ts
