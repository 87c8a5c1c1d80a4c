// Catch2 runner of the distributed tests: every rank runs every test case, so each case issues
// the same collectives on all ranks. The result is the worst over the ranks.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <tessera/dist.h>
#include <tessera/tessera.h>

int main(int argc, char** argv) {
  ts::dist::init(&argc, &argv);
  // A failing REQUIRE on one rank leaves the others waiting in a collective: the watchdog turns
  // that into an abort with the flight recorder instead of a ctest timeout.
  if (!std::getenv("TESSERA_DIST_TIMEOUT")) ts::dist::set_timeout(120);
  int rc = Catch::Session().run(argc, argv);
  ts::Tensor worst = ts::full({}, rc, ts::TensorOptions(ts::kInt32));
  ts::dist::world()->all_reduce(worst, ts::dist::ReduceOp::Max);
  ts::dist::finalize();
  return worst.item<int32_t>();
}
