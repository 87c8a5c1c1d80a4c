#pragma once
/// Tensor factories (torch::zeros, torch::randn, ...) and the seeded RNG.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "tessera/tensor.h"

namespace ts {

/// dtype + device + requires_grad for factories (torch::TensorOptions, reduced).
struct TensorOptions {
  DType dtype = kDefaultFloat;
  bool has_dtype = false;  ///< false: factories infer it (tensor(), scalar_tensor()) or use the default float
  Device device;
  bool requires_grad = false;
  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d), has_dtype(true) {}  // NOLINT(google-explicit-constructor)
  TensorOptions(Device d) : device(d) {}  // NOLINT(google-explicit-constructor)
  TensorOptions(DeviceType d) : device(d) {}  // NOLINT(google-explicit-constructor)
  TensorOptions& with_dtype(DType d) {
    dtype = d;
    has_dtype = true;
    return *this;
  }
  TensorOptions& with_device(Device d) { device = d; return *this; }
  TensorOptions& with_requires_grad(bool r = true) { requires_grad = r; return *this; }
};

Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, const Scalar& value, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, const Scalar& value);
/// [start, end) with `step`; int64 when all arguments are integral (like PyTorch), else default float.
Tensor arange(const Scalar& end, TensorOptions opts);
Tensor arange(const Scalar& end);
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1);
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions opts);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor eye(int64_t n, TensorOptions opts = {});
Tensor eye(int64_t n, int64_t m, TensorOptions opts = {});
/// 0-d tensor holding `value` (dtype inferred from the Scalar unless given).
Tensor scalar_tensor(const Scalar& value, TensorOptions opts = {});

/// Copies host data into a new tensor of `shape` (default: 1-d of data.size(), as
/// torch::tensor; use scalar_tensor for 0-d). The dtype defaults to T's.
template <typename T> Tensor tensor(const std::vector<T>& data, const Shape& shape = {}, TensorOptions opts = {});
template <typename T> Tensor tensor(std::initializer_list<T> data, const Shape& shape = {}, TensorOptions opts = {}) {
  return tensor(std::vector<T>(data), shape, opts);
}
/// Wraps caller-owned memory without copying (contiguous unless strides are given).
Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter = {},
                 Device device = Device());
Tensor from_blob(void* data, const Shape& shape, const Strides& strides, DType dtype,
                 std::function<void(void*)> deleter = {}, Device device = Device());

// ---- random ------------------------------------------------------------------------------
/// Seeds the global generator (torch::manual_seed). Streams are counter-based (Philox4x32-10),
/// so values depend only on the seed and the order of random calls, never on thread count.
void manual_seed(uint64_t seed);
/// Reserves `n` counter values from the global generator; returns {seed, first offset}.
std::pair<uint64_t, uint64_t> next_philox_offset(uint64_t n);
/// Generator state for checkpoints: {seed, offset}.
std::pair<uint64_t, uint64_t> get_rng_state();
void set_rng_state(std::pair<uint64_t, uint64_t> state);

Tensor rand(const Shape& shape, TensorOptions opts = {});   ///< U[0, 1)
Tensor randn(const Shape& shape, TensorOptions opts = {});  ///< N(0, 1)
/// Uniform integers in [low, high); int64 by default.
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts = TensorOptions(kInt64));
Tensor randperm(int64_t n, TensorOptions opts = TensorOptions(kInt64));
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);
/// In-place fills (used by nn::init): uniform_(low, high), normal_(mean, std).
Tensor& uniform_(Tensor& t, double low = 0.0, double high = 1.0);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0);

}  // namespace ts
