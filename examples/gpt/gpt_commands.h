#pragma once
// The two commands of the gpt program: `gpt [train] ...` and `gpt sample ...`.
#include <tessera/device.h>

namespace ts::examples::gpt {

int train_command(int argc, char** argv);
int sample_command(int argc, char** argv);

/// The measured f32 peak of `device`: the best GFLOP/s of a large square ts::matmul (1024 on
/// the CPU's current threads, 8192 on a GPU, with TF32 when it is on), which the MFU the trainer
/// reports is relative to. Leaves the global RNG state as it found it.
double measure_peak_gflops(Device device = Device());

}  // namespace ts::examples::gpt
