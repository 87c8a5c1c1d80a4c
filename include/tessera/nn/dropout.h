#pragma once
/// Dropout (torch.nn.Dropout): active in training mode only.
#include "tessera/nn/module.h"

namespace ts::nn {

/// In training, zeroes each element with probability p and scales the rest by 1/(1-p);
/// in eval, the identity. Masks come from the global generator (ts::manual_seed).
class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace ts::nn
