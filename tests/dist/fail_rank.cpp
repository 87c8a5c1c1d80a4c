// A job in which rank 1 throws while the others wait in a collective: ts::dist::run must end
// the whole job promptly with "tessera rank 1/N failed: <message>" (ctest dist.rank_failure).
// With --no-run the exception is not caught at all and init()'s terminate handler must do the
// same (ctest dist.rank_failure_uncaught).
#include <stdexcept>
#include <string>
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

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--no-run") {
    ts::dist::init(&argc, &argv);
    const int rc = job(argc, argv);
    ts::dist::finalize();
    return rc;
  }
  return ts::dist::run(job, argc, argv);
}
