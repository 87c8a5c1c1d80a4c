#pragma once
// Helpers of the distributed tests.
#include <catch2/catch.hpp>

#include <tessera/dist.h>
#include <tessera/tessera.h>

namespace ts::test {

inline std::shared_ptr<dist::Communicator> world() { return dist::world(); }

/// CHECKs (without aborting the test case, so every rank keeps issuing the same collectives)
/// that every element of `t` equals `expected`.
inline void check_all(const Tensor& t, double expected) {
  const auto v = t.to_vector<double>();
  bool ok = true;
  for (double x : v) ok = ok && x == expected;
  INFO("rank " << dist::rank() << ": " << t << " expected all " << expected);
  CHECK(ok);
}

/// CHECKs elementwise equality with a float64 reference.
inline void check_values(const Tensor& t, const std::vector<double>& expected) {
  INFO("rank " << dist::rank() << ": " << t);
  CHECK(t.to_vector<double>() == expected);
}

/// The message of the ts::Error `fn` throws ("" if it does not throw).
template <typename F> std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const ts::Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace ts::test
