#pragma once
/// Pipeline parallelism: a model split into consecutive stages, one per rank of a
/// pipeline-parallel group (ParallelGrid::pp_group), trained on micro-batches with the GPipe
/// schedule (all forwards, then all backwards) or 1F1B (after a warm-up, each stage alternates
/// one forward and one backward, so at most pp - stage micro-batches of activations are alive).
/// Activations travel forward and their gradients backward by send/recv; the last stage
/// computes the loss. Gradients accumulate in each stage's parameters exactly as if the whole
/// batch had gone through the unsplit model with the mean of the micro-batch losses.
#include <cstdint>
#include <functional>
#include <vector>

#include "tessera/dist/communicator.h"

namespace ts::dist {

enum class PipelineSchedule { GPipe, OneFOneB };

/// Timing of the last PipelineStage::run on this rank.
struct PipelineStats {
  double wall_seconds = 0;     ///< the whole run
  double compute_seconds = 0;  ///< forward and backward computation of this stage
  /// Fraction of the run this stage spent waiting (1 - compute / wall).
  double bubble_fraction() const { return wall_seconds > 0 ? 1.0 - compute_seconds / wall_seconds : 0.0; }
};

class PipelineStage {
 public:
  /// `forward` runs this stage's layers on its input (the micro-batch input on the first stage,
  /// the previous stage's activation otherwise). `loss` (used on the last stage only) turns
  /// micro-batch m's output into a scalar loss.
  PipelineStage(std::shared_ptr<Communicator> pp_group, std::function<Tensor(const Tensor&)> forward,
                std::function<Tensor(const Tensor& output, int64_t micro_batch)> loss);

  /// Runs forward and backward of every micro-batch (`inputs` matter on the first stage only;
  /// every stage passes the same count) and returns the mean micro-batch loss on every rank.
  /// Gradients are accumulated into the parameters (zero them before, step after).
  double run(const std::vector<Tensor>& inputs, PipelineSchedule schedule);

  /// Forward only (no gradients, no activations kept): the mean micro-batch loss on every
  /// rank, e.g. for validation.
  double evaluate(const std::vector<Tensor>& inputs);

  const PipelineStats& stats() const { return stats_; }
  bool is_first() const { return group_->rank() == 0; }
  bool is_last() const { return group_->rank() == group_->size() - 1; }

 private:
  struct Slot {
    Tensor input;   ///< received activation (requires grad) or the micro-batch input
    Tensor output;  ///< this stage's output (the loss on the last stage)
  };
  void forward_step(Slot& slot, int64_t micro, int64_t count);
  Tensor backward_step(Slot& slot);
  Tensor recv_forward();
  void send_forward(const Tensor& activation);
  Tensor recv_backward(const Slot& slot);
  void send_backward(const Tensor& grad);
  void run_gpipe(std::vector<Slot>& slots, const std::vector<Tensor>& inputs);
  void run_1f1b(std::vector<Slot>& slots, const std::vector<Tensor>& inputs);

  std::shared_ptr<Communicator> group_;
  std::function<Tensor(const Tensor&)> forward_;
  std::function<Tensor(const Tensor&, int64_t)> loss_;
  PipelineStats stats_;
  double loss_sum_ = 0;
};

}  // namespace ts::dist
