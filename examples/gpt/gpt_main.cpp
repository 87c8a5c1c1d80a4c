// gpt: trains a GPT on Tiny Shakespeare (character-level or byte-level BPE) and samples from
// its checkpoints.
//   gpt [train] --data DIR [flags]        train (see gpt --help)
//   gpt sample --checkpoint FILE [flags]  generate text (see gpt sample --help)
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <tessera/dist.h>

#include "common/classifier.h"
#include "gpt/gpt_commands.h"

namespace {

int run(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "sample") == 0) return ts::examples::gpt::sample_command(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "train") == 0) return ts::examples::gpt::train_command(argc - 1, argv + 1);
  return ts::examples::gpt::train_command(argc, argv);
}

// Under mpirun (or with a parallel layout) the distributed runtime wraps the run, so an error
// on one rank ends the whole job with its message instead of leaving the others hanging.
bool wants_distributed(int argc, char** argv) {
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr) return true;
  for (int i = 1; i < argc; ++i)
    for (const char* flag : {"--dp", "--pp", "--tp"})
      if (std::strcmp(argv[i], flag) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (wants_distributed(argc, argv)) return ts::dist::run(run, argc, argv);
  return ts::examples::trainer_main("gpt", run, argc, argv);
}
