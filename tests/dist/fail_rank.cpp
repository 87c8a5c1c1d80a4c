// A job in which rank 1 throws while the others wait in a collective: ts::dist::run must end
// the whole job promptly with "tessera rank 1/N failed: <message>" (ctest dist.rank_failure).
#include <stdexcept>
#include <tessera/dist.h>
#include <tessera/tessera.h>

namespace {

int job(int, char**) {
  auto w = ts::dist::world();
  w->barrier();
  if (w->rank() == 1) throw std::runtime_error("deliberate failure in the data pipeline");
  ts::Tensor t = ts::ones({4});
  w->all_reduce(t);  // never completes: rank 1 is gone
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ts::dist::run(job, argc, argv); }
