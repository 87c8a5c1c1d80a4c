#include "tessera/nn/loss.h"

namespace ts::nn {

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& options) : options_(options) {
  TS_CHECK(options.label_smoothing() >= 0.0 && options.label_smoothing() <= 1.0,
           "CrossEntropyLoss: label_smoothing must be in [0, 1], got {}", options.label_smoothing());
  if (options.weight().defined()) weight = register_buffer("weight", options.weight());
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, weight, options_.reduction(), options_.ignore_index(),
                       options_.label_smoothing());
}

NLLLoss::NLLLoss(const NLLLossOptions& options) : options_(options) {
  if (options.weight().defined()) weight = register_buffer("weight", options.weight());
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, weight, options_.reduction(), options_.ignore_index());
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction_); }

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, reduction_); }

BCEWithLogitsLoss::BCEWithLogitsLoss(const BCEWithLogitsLossOptions& options) : reduction_(options.reduction()) {
  if (options.weight().defined()) weight = register_buffer("weight", options.weight());
  if (options.pos_weight().defined()) pos_weight = register_buffer("pos_weight", options.pos_weight());
}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction_);
}

}  // namespace ts::nn
