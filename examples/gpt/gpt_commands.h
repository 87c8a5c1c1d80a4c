#pragma once
// The two commands of the gpt program: `gpt [train] ...` and `gpt sample ...`.
namespace ts::examples::gpt {

int train_command(int argc, char** argv);
int sample_command(int argc, char** argv);

/// The machine's measured f32 peak: the best GFLOP/s of a large square ts::matmul on the
/// current threads (what the MFU the trainer reports is relative to).
double measure_peak_gflops();

}  // namespace ts::examples::gpt
