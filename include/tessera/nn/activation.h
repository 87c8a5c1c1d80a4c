#pragma once
/// Parameter-free elementwise layers: ReLU, GELU, SiLU, Tanh, Sigmoid, Softmax, and
/// Functional (wraps any Tensor -> Tensor callable so it can sit in a Sequential).
#include <functional>
#include <string>

#include "tessera/nn/module.h"

namespace ts::nn {

class ReLU : public UnaryModule {
 public:
  ReLU() = default;
  Tensor forward(const Tensor& x) override;
};

/// approximate: "none" (exact, erf) or "tanh".
class GELU : public UnaryModule {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  std::string approximate_;
};

class SiLU : public UnaryModule {
 public:
  SiLU() = default;
  Tensor forward(const Tensor& x) override;
};

class Tanh : public UnaryModule {
 public:
  Tanh() = default;
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public UnaryModule {
 public:
  Sigmoid() = default;
  Tensor forward(const Tensor& x) override;
};

class Softmax : public UnaryModule {
 public:
  explicit Softmax(int64_t dim) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t dim_;
};

/// Wraps a function, e.g. Functional([](const Tensor& x) { return ts::relu(x) * 2; }).
class Functional : public UnaryModule {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> fn, std::string label = "Functional");
  Tensor forward(const Tensor& x) override;

 private:
  std::function<Tensor(const Tensor&)> fn_;
};

}  // namespace ts::nn
