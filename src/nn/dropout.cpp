#include "tessera/nn/dropout.h"

#include "tessera/nn_functional.h"

namespace ts::nn {

Dropout::Dropout(double p) : p_(p) {
  TS_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training()); }

// "inplace=False" keeps the printout identical to PyTorch's (Tessera's Dropout is never in place).
std::string Dropout::extra_repr() const { return fmt::format("p={}, inplace=False", p_); }

}  // namespace ts::nn
