#pragma once
/// Learning-rate schedulers (torch.optim.lr_scheduler, PyTorch 1.13 semantics). A scheduler
/// writes each parameter group's lr; call step() once per epoch (or per iteration, for
/// iteration-based schedules) after optimizer.step():
///
///   ts::optim::CosineAnnealingLR sched(opt, /*T_max=*/epochs);
///   for (epoch...) { train(...); sched.step(); }
///
/// Checkpoints: a scheduler's state_dict holds its counters, not the optimizer's lrs; save and
/// load the optimizer's state_dict too (it holds the current lrs).
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/optim/optimizer.h"
#include "tessera/state_dict.h"

namespace ts::optim {

/// Base of the step-driven schedulers. Construction records each group's lr as its base lr
/// and applies the schedule's value for step 0 (last_epoch 0), as PyTorch does.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one step and sets every group's lr.
  void step();
  /// The lrs the last step set, one per group.
  const std::vector<double>& get_last_lr() const noexcept { return last_lr_; }
  const std::vector<double>& base_lrs() const noexcept { return base_lrs_; }
  /// Steps taken (0 right after construction).
  int64_t last_epoch() const noexcept { return last_epoch_; }
  const std::string& name() const noexcept { return name_; }

  /// "last_epoch" (0-d int64), "base_lrs" and "last_lr" (1-d float64, one per group).
  StateDict state_dict() const;
  /// Restores what state_dict() saved; the group count must match. All-or-nothing.
  void load_state_dict(const StateDict& dict);

 protected:
  LRScheduler(Optimizer& optimizer, std::string name);
  /// The derived constructor calls this last: it applies the value for step 0.
  void initial_step() { step(); }
  /// The lrs for last_epoch() (PyTorch's get_lr; chainable ones read the current lrs).
  virtual std::vector<double> compute_lr() const = 0;
  /// The groups' current lrs.
  std::vector<double> current_lrs() const;

  Optimizer& optimizer_;

 private:
  std::string name_;
  int64_t last_epoch_ = -1;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
};

/// lr = base_lr * gamma ^ floor(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> compute_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr is multiplied by gamma at each milestone (a milestone listed twice multiplies twice).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> compute_lr() const override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

/// Cosine annealing from base_lr down to eta_min over T_max steps, then back up (the
/// schedule is periodic with period 2 * T_max), using PyTorch's recursive formula.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  std::vector<double> compute_lr() const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

/// Linear warmup from base_lr * warmup_start_factor to base_lr over warmup_steps, then cosine
/// decay to min_lr at total_steps, and min_lr after that (a one-cycle schedule). Equals
/// PyTorch's SequentialLR(LinearLR(start_factor, total_iters=warmup_steps),
/// CosineAnnealingLR(T_max=total_steps - warmup_steps, eta_min=min_lr), [warmup_steps]) up to
/// total_steps, computed in closed form.
class LinearWarmupCosine : public LRScheduler {
 public:
  LinearWarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0,
                     double warmup_start_factor = 0.0);

 protected:
  std::vector<double> compute_lr() const override;

 private:
  int64_t warmup_steps_, total_steps_;
  double min_lr_, start_factor_;
};

/// Options of ReduceLROnPlateau (torch.optim.lr_scheduler.ReduceLROnPlateau's arguments).
class ReduceLROnPlateauOptions {
 public:
  using self_type = ReduceLROnPlateauOptions;
  enum class Mode { Min, Max };
  enum class ThresholdMode { Rel, Abs };
  /// Min: the metric should decrease (a loss); Max: increase (an accuracy).
  TS_OPTIM_ARG(Mode, mode) = Mode::Min;
  /// new_lr = lr * factor (must be < 1).
  TS_OPTIM_ARG(double, factor) = 0.1;
  /// Steps without improvement tolerated before reducing.
  TS_OPTIM_ARG(int64_t, patience) = 10;
  /// Improvement needed to count: relative (best * (1 -/+ threshold)) or absolute.
  TS_OPTIM_ARG(double, threshold) = 1e-4;
  TS_OPTIM_ARG(ThresholdMode, threshold_mode) = ThresholdMode::Rel;
  /// Steps to wait after a reduction before counting bad steps again.
  TS_OPTIM_ARG(int64_t, cooldown) = 0;
  /// Lower bound on every group's lr.
  TS_OPTIM_ARG(double, min_lr) = 0.0;
  /// Reductions smaller than eps are skipped.
  TS_OPTIM_ARG(double, eps) = 1e-8;
};

/// Reduces the lr by `factor` when a metric has stopped improving for `patience` steps.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  /// Records this step's metric (e.g. the validation loss) and reduces the lrs if due.
  void step(double metric);
  const std::vector<double>& get_last_lr() const noexcept { return last_lr_; }
  int64_t last_epoch() const noexcept { return last_epoch_; }
  double best() const noexcept { return best_; }
  int64_t num_bad_epochs() const noexcept { return num_bad_epochs_; }
  int64_t cooldown_counter() const noexcept { return cooldown_counter_; }

  /// "last_epoch", "num_bad_epochs", "cooldown_counter" (0-d int64), "best" (0-d float64),
  /// "last_lr" (1-d float64).
  StateDict state_dict() const;
  void load_state_dict(const StateDict& dict);

 private:
  bool is_better(double a, double best) const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  int64_t last_epoch_ = 0;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace ts::optim
