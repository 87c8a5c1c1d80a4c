// gpt: trains a GPT on Tiny Shakespeare (character-level or byte-level BPE) and samples from
// its checkpoints.
//   gpt [train] --data DIR [flags]        train (see gpt --help)
//   gpt sample --checkpoint FILE [flags]  generate text (see gpt sample --help)
#include <cstdio>
#include <cstring>

#include "common/classifier.h"
#include "gpt/gpt_commands.h"

namespace {

int run(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "sample") == 0) return ts::examples::gpt::sample_command(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "train") == 0) return ts::examples::gpt::train_command(argc - 1, argv + 1);
  return ts::examples::gpt::train_command(argc, argv);
}

}  // namespace

int main(int argc, char** argv) { return ts::examples::trainer_main("gpt", run, argc, argv); }
