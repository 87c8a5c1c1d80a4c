#pragma once
/// A number passed to an op (`x + 2`, `ts::full({2}, 0.5)`): remembers whether it was
/// integral so `int_tensor + 1` stays integral, as in PyTorch.
#include <concepts>
#include <cstdint>

namespace ts {

class Scalar {
 public:
  Scalar() = default;
  template <typename T>
    requires std::is_arithmetic_v<T>
  Scalar(T v)  // NOLINT(google-explicit-constructor): numbers convert implicitly, like at::Scalar
      : value_(static_cast<double>(v)), integral_(std::is_integral_v<T>), boolean_(std::is_same_v<T, bool>) {}
  double to_double() const { return value_; }
  int64_t to_int() const { return static_cast<int64_t>(value_); }
  bool is_integral() const { return integral_; }
  bool is_bool() const { return boolean_; }

 private:
  double value_ = 0;
  bool integral_ = false;
  bool boolean_ = false;
};

}  // namespace ts
