// The schedulers follow torch/optim/lr_scheduler.py (PyTorch 1.13) formula for formula,
// including the chainable forms that read the groups' current lr, so values match PyTorch's
// to rounding (exactly, where no multiply-add can be fused).
#include "tessera/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>

#include "tessera/creation.h"

namespace ts::optim {
namespace {

Tensor f64_vector(const std::vector<double>& v) { return tensor<double>(v, {static_cast<int64_t>(v.size())}); }
Tensor i64_scalar(int64_t v) { return scalar_tensor(v, TensorOptions(kInt64)); }

// Reads the entries of a scheduler state dict, rejecting missing and unexpected keys.
class SchedulerStateReader {
 public:
  SchedulerStateReader(std::string who, const StateDict& dict) : who_(std::move(who)), dict_(dict) {}
  const Tensor& get(const std::string& key) {
    TS_CHECK(dict_.contains(key), "{}: missing key '{}'", who_, key);
    used_.insert(key);
    const Tensor& t = dict_.at(key);
    TS_CHECK(t.defined(), "{}: '{}' is an undefined tensor", who_, key);
    return t;
  }
  int64_t count(const std::string& key) {
    const Tensor& t = get(key);
    TS_CHECK(t.numel() == 1 && !t.is_floating_point(),
             "{}: '{}' must be a one-element integer tensor but has shape {} and dtype {}", who_, key,
             shape_str(t.shape()), dtype_name(t.dtype()));
    return t.item<int64_t>();
  }
  double value(const std::string& key) {
    const Tensor& t = get(key);
    TS_CHECK(t.numel() == 1, "{}: '{}' must hold one value but has shape {}", who_, key, shape_str(t.shape()));
    return t.item<double>();
  }
  std::vector<double> lrs(const std::string& key, size_t groups) {
    const Tensor& t = get(key);
    TS_CHECK(t.dim() == 1 && t.numel() == static_cast<int64_t>(groups),
             "{}: '{}' has shape {} but the optimizer has {} parameter group(s)", who_, key, shape_str(t.shape()),
             groups);
    return t.to_vector<double>();
  }
  void finish() const {
    std::vector<std::string> unexpected;
    for (const auto& key : dict_.keys())
      if (used_.count(key) == 0) unexpected.push_back(key);
    TS_CHECK(unexpected.empty(), "{}: unexpected key(s) {}", who_, fmt::join(unexpected, ", "));
  }

 private:
  std::string who_;
  const StateDict& dict_;
  std::set<std::string> used_;
};

// Python's a % b for b > 0 (never negative).
int64_t py_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

constexpr double kPi = std::numbers::pi;

}  // namespace

// ---- LRScheduler --------------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name)
    : optimizer_(optimizer), name_(std::move(name)), base_lrs_(current_lrs()) {}

std::vector<double> LRScheduler::current_lrs() const {
  std::vector<double> lrs;
  for (const auto& g : optimizer_.param_groups()) lrs.push_back(g.options().get_lr());
  return lrs;
}

void LRScheduler::step() {
  auto& groups = optimizer_.param_groups();
  TS_CHECK(groups.size() == base_lrs_.size(),
           "{}.step: the optimizer has {} parameter group(s) but the scheduler was created for {}", name_,
           groups.size(), base_lrs_.size());
  ++last_epoch_;
  const std::vector<double> lrs = compute_lr();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(lrs[g]);
  last_lr_ = lrs;
}

StateDict LRScheduler::state_dict() const {
  StateDict d;
  d.insert("last_epoch", i64_scalar(last_epoch_));
  d.insert("base_lrs", f64_vector(base_lrs_));
  d.insert("last_lr", f64_vector(last_lr_));
  return d;
}

void LRScheduler::load_state_dict(const StateDict& dict) {
  SchedulerStateReader r(name_ + ".load_state_dict", dict);
  const size_t groups = optimizer_.param_groups().size();
  const int64_t last_epoch = r.count("last_epoch");
  TS_CHECK(last_epoch >= 0, "{}.load_state_dict: 'last_epoch' must be >= 0 but is {}", name_, last_epoch);
  auto base_lrs = r.lrs("base_lrs", groups);
  auto last_lr = r.lrs("last_lr", groups);
  r.finish();
  last_epoch_ = last_epoch;
  base_lrs_ = std::move(base_lrs);
  last_lr_ = std::move(last_lr);
}

// ---- StepLR / MultiStepLR -------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  TS_CHECK(step_size > 0, "StepLR: step_size must be positive but is {}", step_size);
  initial_step();
}

std::vector<double> StepLR::compute_lr() const {
  std::vector<double> lrs = current_lrs();
  if (last_epoch() == 0 || last_epoch() % step_size_ != 0) return lrs;
  for (auto& lr : lrs) lr *= gamma_;
  return lrs;
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::compute_lr() const {
  std::vector<double> lrs = current_lrs();
  const auto [lo, hi] = std::equal_range(milestones_.begin(), milestones_.end(), last_epoch());
  const auto times = hi - lo;
  if (times == 0) return lrs;
  const double f = std::pow(gamma_, static_cast<double>(times));
  for (auto& lr : lrs) lr *= f;
  return lrs;
}

// ---- CosineAnnealingLR ----------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(T_max), eta_min_(eta_min) {
  TS_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive but is {}", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::compute_lr() const {
  std::vector<double> lrs = current_lrs();
  const int64_t e = last_epoch();
  if (e == 0) return lrs;
  const double t = static_cast<double>(t_max_);
  for (size_t g = 0; g < lrs.size(); ++g) {
    if (py_mod(e - 1 - t_max_, 2 * t_max_) == 0) {  // the minimum: restart the rise
      lrs[g] = lrs[g] + (base_lrs()[g] - eta_min_) * (1 - std::cos(kPi / t)) / 2;
    } else {
      lrs[g] = (1 + std::cos(kPi * static_cast<double>(e) / t)) / (1 + std::cos(kPi * static_cast<double>(e - 1) / t)) *
                   (lrs[g] - eta_min_) +
               eta_min_;
    }
  }
  return lrs;
}

// ---- LinearWarmupCosine ---------------------------------------------------------------------------

LinearWarmupCosine::LinearWarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr,
                                       double warmup_start_factor)
    : LRScheduler(optimizer, "LinearWarmupCosine"),
      warmup_steps_(warmup_steps),
      total_steps_(total_steps),
      min_lr_(min_lr),
      start_factor_(warmup_start_factor) {
  TS_CHECK(warmup_steps >= 0 && total_steps > warmup_steps,
           "LinearWarmupCosine: need 0 <= warmup_steps < total_steps but got warmup_steps {}, total_steps {}",
           warmup_steps, total_steps);
  TS_CHECK(warmup_start_factor >= 0 && warmup_start_factor <= 1,
           "LinearWarmupCosine: warmup_start_factor must be in [0, 1] but is {}", warmup_start_factor);
  initial_step();
}

std::vector<double> LinearWarmupCosine::compute_lr() const {
  const int64_t e = last_epoch();
  std::vector<double> lrs(base_lrs().size());
  for (size_t g = 0; g < lrs.size(); ++g) {
    const double base = base_lrs()[g];
    if (e < warmup_steps_) {
      lrs[g] =
          base * (start_factor_ + (1 - start_factor_) * static_cast<double>(e) / static_cast<double>(warmup_steps_));
    } else if (e <= total_steps_) {
      const double progress =
          static_cast<double>(e - warmup_steps_) / static_cast<double>(total_steps_ - warmup_steps_);
      lrs[g] = min_lr_ + (base - min_lr_) * (1 + std::cos(kPi * progress)) / 2;
    } else {
      lrs[g] = min_lr_;
    }
  }
  return lrs;
}

// ---- ReduceLROnPlateau ----------------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : optimizer_(optimizer), options_(options) {
  TS_CHECK(options.factor() < 1.0 && options.factor() >= 0, "ReduceLROnPlateau: factor must be in [0, 1) but is {}",
           options.factor());
  TS_CHECK(options.patience() >= 0, "ReduceLROnPlateau: patience must be >= 0 but is {}", options.patience());
  TS_CHECK(options.cooldown() >= 0, "ReduceLROnPlateau: cooldown must be >= 0 but is {}", options.cooldown());
  TS_CHECK(options.min_lr() >= 0, "ReduceLROnPlateau: min_lr must be >= 0 but is {}", options.min_lr());
  best_ = options.mode() == ReduceLROnPlateauOptions::Mode::Min ? std::numeric_limits<double>::infinity()
                                                                : -std::numeric_limits<double>::infinity();
  for (const auto& g : optimizer_.param_groups()) last_lr_.push_back(g.options().get_lr());
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  using M = ReduceLROnPlateauOptions::Mode;
  using T = ReduceLROnPlateauOptions::ThresholdMode;
  const double th = options_.threshold();
  if (options_.mode() == M::Min) return options_.threshold_mode() == T::Rel ? a < best * (1 - th) : a < best - th;
  return options_.threshold_mode() == T::Rel ? a > best * (th + 1) : a > best + th;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad steps during cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience()) {
    for (auto& g : optimizer_.param_groups()) {
      const double old_lr = g.options().get_lr();
      const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
      if (old_lr - new_lr > options_.eps()) g.options().set_lr(new_lr);
    }
    cooldown_counter_ = options_.cooldown();
    num_bad_epochs_ = 0;
  }
  last_lr_.clear();
  for (const auto& g : optimizer_.param_groups()) last_lr_.push_back(g.options().get_lr());
}

StateDict ReduceLROnPlateau::state_dict() const {
  StateDict d;
  d.insert("last_epoch", i64_scalar(last_epoch_));
  d.insert("best", scalar_tensor(best_, TensorOptions(kFloat64)));
  d.insert("num_bad_epochs", i64_scalar(num_bad_epochs_));
  d.insert("cooldown_counter", i64_scalar(cooldown_counter_));
  d.insert("last_lr", f64_vector(last_lr_));
  return d;
}

void ReduceLROnPlateau::load_state_dict(const StateDict& dict) {
  SchedulerStateReader r("ReduceLROnPlateau.load_state_dict", dict);
  const int64_t last_epoch = r.count("last_epoch");
  const double best = r.value("best");
  const int64_t bad = r.count("num_bad_epochs");
  const int64_t cooldown = r.count("cooldown_counter");
  auto last_lr = r.lrs("last_lr", optimizer_.param_groups().size());
  r.finish();
  TS_CHECK(last_epoch >= 0 && bad >= 0 && cooldown >= 0,
           "ReduceLROnPlateau.load_state_dict: counters must be >= 0 (last_epoch {}, num_bad_epochs {}, "
           "cooldown_counter {})",
           last_epoch, bad, cooldown);
  last_epoch_ = last_epoch;
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
  last_lr_ = std::move(last_lr);
}

}  // namespace ts::optim
