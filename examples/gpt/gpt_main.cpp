// gpt: trains a GPT on Tiny Shakespeare (character-level or byte-level BPE) and samples from
// its checkpoints.
//   gpt [train] --data DIR [flags]        train (see gpt --help)
//   gpt sample --checkpoint FILE [flags]  generate text (see gpt sample --help)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

// The --device value on the command line ("cpu" when absent).
std::string device_flag(int argc, char** argv) {
  std::string device = "cpu";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[i + 1];
    if (std::strncmp(argv[i], "--device=", 9) == 0) device = argv[i] + 9;
  }
  return device;
}

}  // namespace

int main(int argc, char** argv) {
  if (wants_distributed(argc, argv)) {
    // Refused before the distributed runtime starts (its failure path aborts the whole job).
    if (const std::string device = device_flag(argc, argv); device != "cpu") {
      std::fprintf(stderr, "gpt: error: --device %s: the parallel layouts (--dp, --pp, --tp, mpirun) run on the CPU "
                   "only; train on one GPU without them, or drop --device\n", device.c_str());
      return 2;
    }
    return ts::dist::run(run, argc, argv);
  }
  return ts::examples::trainer_main("gpt", run, argc, argv);
}
