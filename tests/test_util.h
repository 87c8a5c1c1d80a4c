#pragma once
// Helpers shared by the tests: tensor comparison with readable failures, gradcheck wrappers,
// and random float64 inputs (contiguous or deliberately strided).
#include <catch2/catch.hpp>

#include <tessera/tessera.h>

namespace ts::test {

/// Sets the CPU thread count for a scope (kernels pick their schedule from it), restoring
/// the previous count on exit.
struct ThreadCount {
  int prev;
  explicit ThreadCount(int n) : prev(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(prev); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;
};

/// REQUIREs that `actual` matches `expected` (same shape, allclose), printing both on failure.
inline void require_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-5, double atol = 1e-6) {
  INFO("actual:   " << actual);
  INFO("expected: " << expected);
  REQUIRE(actual.shape() == expected.shape());
  REQUIRE(ts::allclose(actual.to(kFloat64), expected.to(kFloat64), rtol, atol));
}

/// REQUIREs the values of `actual` (any dtype) equal `expected`, element by element.
inline void require_values(const Tensor& actual, const std::vector<double>& expected, double tol = 1e-6) {
  INFO("actual: " << actual);
  const auto v = actual.to_vector<double>();
  REQUIRE(v.size() == expected.size());
  for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == Approx(expected[i]).margin(tol));
}

/// A float64 tensor of N(0,1) values that requires grad.
inline Tensor rand_input(const Shape& shape) {
  return randn(shape, kFloat64).requires_grad_(true);
}

/// A float64 tensor requiring grad whose memory is NOT contiguous: the transpose of a
/// contiguous tensor with the last two dims swapped (shape must have >= 2 dims).
inline Tensor rand_input_transposed(const Shape& shape) {
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  Tensor base = randn(swapped, kFloat64);
  Tensor t = base.transpose(-1, -2);
  t.requires_grad_(true);
  return t;
}

/// Positive float64 input (for log, sqrt, ...).
inline Tensor rand_positive(const Shape& shape) {
  NoGradGuard g;
  Tensor t = rand(shape, kFloat64) + 0.5;
  return t.requires_grad_(true);
}

/// gradcheck that REQUIREs success and reports the mismatch message on failure.
inline void require_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                              const std::vector<Tensor>& inputs, double atol = 1e-5, double rtol = 1e-3) {
  try {
    REQUIRE(autograd::gradcheck(fn, inputs, 1e-6, atol, rtol));
  } catch (const Error& e) {
    FAIL(e.what());
  }
}

}  // namespace ts::test
