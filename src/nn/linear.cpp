#include "tessera/nn/linear.h"

#include <cmath>

#include "tessera/creation.h"
#include "tessera/nn/init.h"
#include "tessera/ops.h"

namespace ts::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias)
    : in_features_(in_features), out_features_(out_features) {
  TS_CHECK(in_features >= 0 && out_features >= 0,
           "Linear: in_features and out_features must be non-negative, got {} and {}", in_features, out_features);
  weight = register_parameter("weight", empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", empty({out_features}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // PyTorch's default: kaiming_uniform_(a = sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)) weights.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = in_features_ > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features_)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  TS_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features_,
           "Linear: expected an input of shape (*, {}) but got {}", in_features_,
           x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_,
                     bias.defined() ? "True" : "False");
}

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim_, end_dim_); }

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim_, end_dim_); }

}  // namespace ts::nn
