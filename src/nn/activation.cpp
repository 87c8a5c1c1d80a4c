#include "tessera/nn/activation.h"

#include "tessera/nn_functional.h"
#include "tessera/ops.h"

namespace ts::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  TS_CHECK(approximate_ == "none" || approximate_ == "tanh", "GELU: approximate must be 'none' or 'tanh', got '{}'",
           approximate_);
}

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_); }

std::string GELU::extra_repr() const { return fmt::format("approximate='{}'", approximate_); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }

std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim_); }

Functional::Functional(std::function<Tensor(const Tensor&)> fn, std::string label)
    : UnaryModule(std::move(label)), fn_(std::move(fn)) {
  TS_CHECK(fn_ != nullptr, "Functional: the wrapped function is empty");
}

Tensor Functional::forward(const Tensor& x) { return fn_(x); }

}  // namespace ts::nn
