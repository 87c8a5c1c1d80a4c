#include "tessera/nn/normalization.h"

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/nn/init.h"
#include "tessera/nn_functional.h"

namespace ts::nn {

namespace {
std::string undefined_or_shape(const Tensor& x) { return x.defined() ? shape_str(x.shape()) : "an undefined tensor"; }
const char* py_bool(bool b) { return b ? "True" : "False"; }
}  // namespace

BatchNormBase::BatchNormBase(int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                             bool track_running_stats)
    : num_features_(num_features),
      eps_(eps),
      momentum_(momentum),
      affine_(affine),
      track_running_stats_(track_running_stats) {
  TS_CHECK(num_features > 0, "BatchNorm: num_features must be positive, got {}", num_features);
  TS_CHECK(eps > 0, "BatchNorm: eps must be positive, got {}", eps);
  TS_CHECK(!momentum || (*momentum >= 0.0 && *momentum <= 1.0), "BatchNorm: momentum must be in [0, 1], got {}",
           momentum.value_or(0.0));
  if (affine) {
    weight = register_parameter("weight", empty({num_features}));
    bias = register_parameter("bias", empty({num_features}));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, kInt64));
  }
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!track_running_stats_) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (affine_) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_input(x);
  TS_CHECK(x.size(1) == num_features_, "{}: expected {} channels (dim 1) but got an input of shape {}", name(),
           num_features_, shape_str(x.shape()));
  double factor = momentum_.value_or(0.0);
  if (is_training() && track_running_stats_) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    // momentum = None: the running stats become the plain average of all batches seen.
    if (!momentum_) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  // Batch statistics in training, and also in eval when no running stats are kept.
  const bool use_batch_stats = is_training() || !track_running_stats_;
  return batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, factor, eps_);
}

std::string BatchNormBase::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features_, eps_,
                     momentum_ ? fmt::format("{}", *momentum_) : "None", py_bool(affine_),
                     py_bool(track_running_stats_));
}

void BatchNorm1d::check_input(const Tensor& x) const {
  TS_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3),
           "BatchNorm1d: expected a 2-D (N, C) or 3-D (N, C, L) input but got {}", undefined_or_shape(x));
}

void BatchNorm2d::check_input(const Tensor& x) const {
  TS_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d: expected a 4-D (N, C, H, W) input but got {}",
           undefined_or_shape(x));
}

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine, bool with_bias)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps), elementwise_affine_(elementwise_affine) {
  TS_CHECK(!normalized_shape_.empty(), "LayerNorm: normalized_shape must have at least one dim");
  for (int64_t d : normalized_shape_)
    TS_CHECK(d > 0, "LayerNorm: normalized_shape must be positive, got {}", shape_str(normalized_shape_));
  TS_CHECK(eps > 0, "LayerNorm: eps must be positive, got {}", eps);
  if (elementwise_affine) {
    weight = register_parameter("weight", empty(normalized_shape_));
    if (with_bias) bias = register_parameter("bias", empty(normalized_shape_));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (!elementwise_affine_) return;
  init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape_, weight, bias, eps_); }

std::string LayerNorm::extra_repr() const {
  // Python's tuple spelling: (64,) and (4, 8).
  return fmt::format("({}{}), eps={}, elementwise_affine={}{}", fmt::join(normalized_shape_, ", "),
                     normalized_shape_.size() == 1 ? "," : "", eps_, py_bool(elementwise_affine_),
                     elementwise_affine_ && !bias.defined() ? ", bias=False" : "");
}

}  // namespace ts::nn
