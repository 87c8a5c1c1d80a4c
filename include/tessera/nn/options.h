#pragma once
/// Small building blocks for layer constructors: IntPair (an int or a {h, w} pair, like
/// libtorch's ExpandingArray<2>) and TS_NN_ARG, the fluent option setter (TORCH_ARG).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tessera/error.h"

namespace ts::nn {

/// `3` means {3, 3}; `{3, 5}` is (height, width).
struct IntPair {
  int64_t h = 0;
  int64_t w = 0;
  IntPair(int64_t v) : h(v), w(v) {}  // NOLINT(google-explicit-constructor)
  IntPair(int64_t height, int64_t width) : h(height), w(width) {}
  IntPair(std::initializer_list<int64_t> v) {
    TS_CHECK(v.size() == 1 || v.size() == 2, "IntPair: expected 1 or 2 values but got {}", v.size());
    h = *v.begin();
    w = *(v.end() - 1);
  }
  std::vector<int64_t> vec() const { return {h, w}; }
  bool operator==(const IntPair&) const = default;
  /// Python's tuple spelling, as PyTorch's printouts show it: "(3, 3)".
  std::string str() const { return fmt::format("({}, {})", h, w); }
  /// "3" for a square pair, else str() (how PyTorch prints pooling arguments given as ints).
  std::string short_str() const { return h == w ? fmt::format("{}", h) : str(); }
};

}  // namespace ts::nn

/// Declares option `name` of type `T` with a fluent setter and a getter.
#define TS_NN_ARG(T, name)                       \
 public:                                         \
  auto& name(const T& value) {                   \
    name##_ = value;                             \
    return *this;                                \
  }                                              \
  const T& name() const { return name##_; }      \
                                                 \
 private:                                        \
  T name##_
