#pragma once
/// Linear, Identity and Flatten (torch.nn.Linear / Identity / Flatten).
#include "tessera/nn/module.h"

namespace ts::nn {

/// y = x W^T + b. weight (out_features, in_features), bias (out_features). Initialized like
/// PyTorch: kaiming_uniform_(a = sqrt(5)) weight, U(-1/sqrt(in), 1/sqrt(in)) bias.
class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  /// Re-draws the weights with PyTorch's default initialization.
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;
  Tensor bias;  ///< undefined when constructed with bias = false

 private:
  int64_t in_features_;
  int64_t out_features_;
};

/// Returns its input unchanged (a placeholder, e.g. for an optional projection).
class Identity : public UnaryModule {
 public:
  Identity() = default;
  Tensor forward(const Tensor& x) override { return x; }
};

/// Flattens dims [start_dim, end_dim] into one (default: everything but the batch dim).
class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

}  // namespace ts::nn
