#pragma once
// The training loop shared by the image-classification trainers: flags, epochs with a live
// progress bar, evaluation, per-epoch summary, CSV log, SVG plot and checkpoints.
#include <functional>
#include <memory>
#include <string>

#include <tessera/data/dataloader.h>
#include <tessera/nn.h>
#include <tessera/optim.h>
#include <tessera/util/cli.h>

#include "common/pipeline_runner.h"

namespace ts::examples {

/// Flags every trainer has; `defaults` holds its own defaults for epochs/batch/lr.
struct CommonDefaults {
  int64_t epochs = 10, batch_size = 64;
  double lr = 0.01;
};
void add_common_flags(util::ArgParser& args, const CommonDefaults& defaults);

struct CommonOptions {
  std::string data, save, resume, log, plot;
  int64_t epochs = 0, batch_size = 0, workers = 0, train_limit = 0;
  double lr = 0;
  uint64_t seed = 0;
  int threads = 0;
  double min_test_acc = -1;
  int dp = 1;  ///< data-parallel replicas; --batch-size is per replica
  int pp = 1;  ///< pipeline stages (models that can be cut into pieces); dp * pp = mpirun's -np
  int64_t micro_batches = 4;  ///< pipeline micro-batches per batch
  Device device;              ///< --device: where the model trains (the data is loaded on the CPU)
  bool tf32 = false;          ///< --tf32: float32 matmul/conv on TF32 tensor cores (CUDA)
};
CommonOptions read_common_flags(const util::ArgParser& args);

/// --device (cpu, cuda or cuda:N; default cpu) and --tf32, shared by every trainer.
void add_device_flags(util::ArgParser& args);
/// Parses a --device value and makes it ready: a CUDA device must exist (otherwise ts::Error
/// with ts::cuda::unavailable_reason()); sets TF32 matmul/convolution to `tf32` on CUDA.
Device select_device(const std::string& spec, bool tf32);
/// A CPU tensor (a batch from a loader) on `device`: for CUDA it is copied into pinned memory
/// (unless the loader's pin_memory already put it there) and sent with a non-blocking copy (queued on the device's stream, so the host goes on
/// launching work); a tensor already there is returned as it is.
Tensor to_device(const Tensor& t, Device device);

/// What the loop needs from a trainer.
struct ClassifierSetup {
  std::string name;  ///< e.g. "mnist-cnn", shown in logs and stored in checkpoints
  std::shared_ptr<nn::UnaryModule> model;
  /// With --dp > 1: the DistributedDataParallel wrapper of `model` that training runs through
  /// (checkpoints still save `model`, so they load in any layout). Set by use_data_parallel().
  std::shared_ptr<nn::UnaryModule> replica;
  /// With --pp > 1: trains `model` as pipeline stages. Set by use_pipeline_parallel().
  std::unique_ptr<PipelineRunner> pipeline;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;  ///< stepped once per epoch; may be null
  std::unique_ptr<data::DataLoader> train, test;
};

/// For --dp > 1 (under mpirun): this rank's fixed shard of `train_set` (every dp-th sample,
/// reshuffled within the shard each epoch by the loader). Returns `train_set` itself for dp 1.
std::shared_ptr<const data::Dataset> shard_for_this_rank(std::shared_ptr<const data::Dataset> train_set,
                                                         const CommonOptions& options);
/// Under mpirun: this rank's slice (every world_size-th image) of the test set; evaluation
/// sums the slices' results over the world, so each image is evaluated exactly once.
std::shared_ptr<const data::Dataset> eval_shard_for_this_rank(std::shared_ptr<const data::Dataset> test_set);
/// For --dp > 1 (and --pp 1): wraps setup.model in DistributedDataParallel (broadcasting rank
/// 0's weights). Call after the optimizer is built on setup.model's parameters.
void use_data_parallel(ClassifierSetup& setup, const CommonOptions& options);
/// For --pp > 1: trains setup.model (cut into `pieces`) as pipeline stages; with --dp too, the
/// stages' replicas average their gradients.
void use_pipeline_parallel(ClassifierSetup& setup, const CommonOptions& options, Pieced& pieces);

/// True on the rank that prints, logs and saves (rank 0; always true without mpirun).
bool is_leader();

/// Runs the epochs (resuming from options.resume if set), returns the final test accuracy.
double run_classifier_training(ClassifierSetup& setup, const CommonOptions& options);

/// Prints the final accuracy; returns the exit status (3 when options.min_test_acc is not
/// reached, else 0).
int report_final_accuracy(const char* program, double accuracy, const CommonOptions& options);

/// main() of a trainer: runs `run`, turning exceptions into a message and exit status 1.
/// Under mpirun the distributed runtime wraps it (an error on one rank ends the job).
int trainer_main(const char* program, int (*run)(int, char**), int argc, char** argv);

}  // namespace ts::examples
