#pragma once
/// BatchNorm1d / BatchNorm2d and LayerNorm (torch.nn.BatchNorm*d / LayerNorm).
#include <optional>

#include "tessera/nn/module.h"

namespace ts::nn {

/// Shared by BatchNorm1d and BatchNorm2d, which differ only in the input ranks they accept.
/// Training normalizes with the batch statistics and updates running_mean / running_var
/// (unbiased variance) with `momentum` (nullopt: a cumulative average over
/// num_batches_tracked batches); eval normalizes with the running statistics.
class BatchNormBase : public UnaryModule {
 public:
  BatchNormBase(int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                bool track_running_stats);
  Tensor forward(const Tensor& x) override;
  /// running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  /// reset_running_stats() plus weight = 1, bias = 0.
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_features() const { return num_features_; }

  Tensor weight;               ///< (C), when affine
  Tensor bias;                 ///< (C), when affine
  Tensor running_mean;         ///< (C) buffer, when track_running_stats
  Tensor running_var;          ///< (C) buffer, when track_running_stats
  Tensor num_batches_tracked;  ///< 0-d int64 buffer, when track_running_stats

 protected:
  virtual void check_input(const Tensor& x) const = 0;

  int64_t num_features_;
  double eps_;
  std::optional<double> momentum_;
  bool affine_;
  bool track_running_stats_;
};

/// Input (N, C) or (N, C, L).
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase(num_features, eps, momentum, affine, track_running_stats) {}

 protected:
  void check_input(const Tensor& x) const override;
};

/// Input (N, C, H, W).
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase(num_features, eps, momentum, affine, track_running_stats) {}

 protected:
  void check_input(const Tensor& x) const override;
};

/// Normalizes over the trailing dims `normalized_shape`; weight = 1, bias = 0 initially.
/// bias = false keeps the weight but no bias (PyTorch >= 2.1's LayerNorm(bias=False)).
class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  Tensor weight;  ///< normalized_shape, when elementwise_affine
  Tensor bias;    ///< normalized_shape, when elementwise_affine and bias

 private:
  Shape normalized_shape_;
  double eps_;
  bool elementwise_affine_;
};

}  // namespace ts::nn
