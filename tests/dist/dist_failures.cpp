// Debug-mode verification of collectives, and the flight recorder.
#include "dist_test_util.h"

using namespace ts;

namespace {

// Turns debug mode on for a scope.
struct DebugMode {
  bool previous = dist::debug();
  DebugMode() { dist::set_debug(true); }
  ~DebugMode() { dist::set_debug(previous); }
  DebugMode(const DebugMode&) = delete;
  DebugMode& operator=(const DebugMode&) = delete;
};

}  // namespace

TEST_CASE("dist: debug mode passes matching collectives", "[dist][debug]") {
  DebugMode on;
  auto w = test::world();
  Tensor t = full({3, 4}, 1.0);
  w->all_reduce(t);
  test::check_all(t, w->size());
  w->barrier();
  Tensor out = zeros({2 * w->size()});
  w->all_gather(full({2}, 1.0), out);
  test::check_all(out, 1);
}

TEST_CASE("dist: debug mode reports mismatched shapes, dtypes and ops on every rank", "[dist][debug]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  if (n == 1) return;
  DebugMode on;
  {
    Tensor t = zeros({r == 0 ? 4 : 5});
    const std::string msg = test::error_of([&] { w->all_reduce(t); });
    INFO(msg);
    CHECK_THAT(msg, Catch::Contains("collective mismatch") && Catch::Contains("rank 0 calls") &&
                        Catch::Contains("all_reduce(sum) on float32 [4]") && Catch::Contains("rank 1 calls") &&
                        Catch::Contains("all_reduce(sum) on float32 [5]"));
  }
  {
    Tensor t = zeros({4}, TensorOptions(r == 0 ? kFloat32 : kFloat64));
    const std::string msg = test::error_of([&] { w->broadcast(t, 0); });
    INFO(msg);
    CHECK_THAT(msg, Catch::Contains("float32 [4]") && Catch::Contains("float64 [4]"));
  }
  {
    // Rank 0 waits in a barrier while the others all-reduce: without debug mode, a hang.
    Tensor t = zeros({2});
    const std::string msg = test::error_of([&] {
      if (r == 0) w->barrier();
      else w->all_reduce(t);
    });
    INFO(msg);
    CHECK_THAT(msg, Catch::Contains("barrier") && Catch::Contains("all_reduce"));
  }
  // After the reported mismatches the ranks are still in step.
  Tensor ok = full({1}, 1.0);
  w->all_reduce(ok);
  test::check_all(ok, n);
}

TEST_CASE("dist: the flight recorder lists recent collectives", "[dist][debug]") {
  auto w = test::world();
  Tensor t = zeros({7, 3}, TensorOptions(kFloat64));
  w->all_reduce(t, dist::ReduceOp::Max);
  const std::string dump = dist::flight_recorder_dump();
  INFO(dump);
  CHECK_THAT(dump, Catch::Contains("all_reduce(max)") && Catch::Contains("float64 [7, 3]") &&
                       Catch::Contains("world") && Catch::Contains("done"));
}

TEST_CASE("dist: settings are validated", "[dist][debug]") {
  const double previous = dist::timeout();
  CHECK_THROWS_AS(dist::set_timeout(-1), ts::Error);
  dist::set_timeout(42);
  CHECK(dist::timeout() == 42);
  dist::set_timeout(previous);
}
