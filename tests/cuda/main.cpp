// The CUDA test binary's main: without a usable GPU every run reports itself skipped (exit
// code 77, ctest's SKIP_RETURN_CODE) instead of passing vacuously. Listing tests still works,
// so ctest discovers them on any machine.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>

#include <tessera/cuda.h>

namespace {
bool only_lists_tests(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--list", 6) == 0 || std::strcmp(argv[i], "-l") == 0 || std::strcmp(argv[i], "-h") == 0 ||
        std::strcmp(argv[i], "--help") == 0)
      return true;
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  if (!only_lists_tests(argc, argv) && !ts::cuda::is_available()) {
    std::printf("SKIPPED: no usable CUDA device (%s)\n", ts::cuda::unavailable_reason().c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
