#pragma once
// The GPT trainer's training flags, shared by the single-process loop (gpt_train.cpp) and the
// dp x pp x tp one (gpt_train_parallel.cpp).
#include <cstdint>
#include <string>

#include <tessera/util/cli.h>

namespace ts::examples::gpt {

struct TrainOptions {
  int64_t batch = 0, accum = 0, max_iters = 0, warmup = 0, eval_interval = 0, eval_iters = 0, sample_tokens = 0;
  double lr = 0, min_lr = 0, weight_decay = 0, beta2 = 0, clip = 0, time_limit_s = 0, target_val_loss = 0;
  uint64_t seed = 0;
  std::string save, resume, log, plot;
  int dp = 1, pp = 1, tp = 1;   ///< parallel layout (dp * pp * tp = mpirun's -np)
  int64_t micro_batches = 1;    ///< pipeline micro-batches per step (--pp > 1)
  std::string device = "cpu";   ///< --device as given (cpu, cuda, cuda:N); checked by select_device
  bool tf32 = false;            ///< --tf32
};

void add_train_flags(util::ArgParser& args);
TrainOptions read_train_flags(const util::ArgParser& a);

/// Trains under mpirun with the --dp/--pp/--tp layout (dist::run has initialized the runtime).
int train_parallel(const util::ArgParser& args, const TrainOptions& o);

}  // namespace ts::examples::gpt
