// Mismatched collectives without debug mode: rank 0 waits in a barrier while the others
// all-reduce. The watchdog (TESSERA_DIST_TIMEOUT=3 from ctest) must print each rank's flight
// recorder and abort the job (ctest dist.watchdog).
#include <tessera/dist.h>
#include <tessera/tessera.h>

namespace {

int job(int, char**) {
  auto w = ts::dist::world();
  ts::Tensor t = ts::ones({4, 2});
  w->all_reduce(t);  // a matched op, so the recorder shows some history
  if (w->rank() == 0) {
    w->barrier();
  } else {
    w->all_reduce(t);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ts::dist::run(job, argc, argv); }
