#pragma once
/// Loss modules (torch.nn.*Loss): thin wrappers over the functional losses that hold their
/// options. Class weights are registered as buffers so Module::to() moves them with the model.
#include "tessera/nn/module.h"
#include "tessera/nn/options.h"
#include "tessera/nn_functional.h"

namespace ts::nn {

/// CrossEntropyLossOptions().weight(w).ignore_index(0).label_smoothing(0.1).reduction(...)
struct CrossEntropyLossOptions {
  TS_NN_ARG(Tensor, weight);
  TS_NN_ARG(int64_t, ignore_index) = -100;
  TS_NN_ARG(double, label_smoothing) = 0.0;
  TS_NN_ARG(Reduction, reduction) = Reduction::Mean;
};

/// input (N, C, *) logits, target (N, *) int64 class indices.
class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Tensor weight;  ///< (C) buffer, when given

 private:
  CrossEntropyLossOptions options_;
};

struct NLLLossOptions {
  TS_NN_ARG(Tensor, weight);
  TS_NN_ARG(int64_t, ignore_index) = -100;
  TS_NN_ARG(Reduction, reduction) = Reduction::Mean;
};

/// input (N, C, *) log-probabilities, target (N, *) int64 class indices.
class NLLLoss : public Module {
 public:
  explicit NLLLoss(const NLLLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Tensor weight;  ///< (C) buffer, when given

 private:
  NLLLossOptions options_;
};

class MSELoss : public Module {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

 private:
  Reduction reduction_;
};

class L1Loss : public Module {
 public:
  explicit L1Loss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

 private:
  Reduction reduction_;
};

struct BCEWithLogitsLossOptions {
  TS_NN_ARG(Tensor, weight);      ///< broadcast to the input
  TS_NN_ARG(Tensor, pos_weight);  ///< broadcast along the last (class) dim
  TS_NN_ARG(Reduction, reduction) = Reduction::Mean;
};

/// Sigmoid + binary cross entropy in one numerically stable step; target in [0, 1].
class BCEWithLogitsLoss : public Module {
 public:
  explicit BCEWithLogitsLoss(const BCEWithLogitsLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Tensor weight;      ///< buffer, when given
  Tensor pos_weight;  ///< buffer, when given

 private:
  Reduction reduction_;
};

}  // namespace ts::nn
