#pragma once
/// One-file training checkpoints: model parameters and buffers, optimizer state, optional LR
/// scheduler state, the global RNG state and the trainer's position (epoch, step), saved
/// atomically with ts::save (safetensors layout), so `--resume` continues exactly where an
/// uninterrupted run would be.
#include <cstdint>
#include <map>
#include <string>

#include "tessera/nn/module.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/optimizer.h"

namespace ts::train {

/// Where the trainer is: `epoch` epochs are complete and `step` optimizer steps were taken.
struct TrainingPosition {
  int64_t epoch = 0;
  int64_t step = 0;
};

/// Saves model ("model.*"), optimizer ("optim.*") and scheduler ("sched.*") tensors plus the
/// position and RNG state in the metadata. `extra` metadata is stored alongside (e.g. the
/// model's configuration) and returned by load_training_checkpoint.
void save_training_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                              const optim::LRScheduler* scheduler, TrainingPosition position,
                              const std::map<std::string, std::string>& extra = {});

struct LoadedCheckpoint {
  TrainingPosition position;
  std::map<std::string, std::string> metadata;
};

/// Restores everything save_training_checkpoint wrote (strict: missing or unexpected model
/// keys are an error naming them), including the global RNG state.
LoadedCheckpoint load_training_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& optimizer,
                                          optim::LRScheduler* scheduler);

}  // namespace ts::train
