#pragma once
/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay:
/// torch.optim.SGD's update (PyTorch 1.13), one fused backend pass per parameter tensor.
#include "tessera/optim/optimizer.h"

namespace ts::optim {

class SGDOptions : public OptimizerCloneableOptions<SGDOptions> {
 public:
  using self_type = SGDOptions;
  explicit SGDOptions(double lr) : lr_(lr) {}
  TS_OPTIM_ARG(double, lr);
  TS_OPTIM_ARG(double, momentum) = 0;
  TS_OPTIM_ARG(double, dampening) = 0;
  TS_OPTIM_ARG(double, weight_decay) = 0;
  TS_OPTIM_ARG(bool, nesterov) = false;
  TS_OPTIM_ARG(bool, maximize) = false;

 public:
  const char* type_name() const override { return "SGDOptions"; }
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  bool set_hyperparameter(const std::string& name, double value) override;
  void validate(const std::string& who) const override;
};

/// State per parameter: "momentum_buffer" (only with momentum, after the first step).
struct SGDParamState : ParamState {
  Tensor momentum_buffer;
  std::vector<std::pair<std::string, Tensor>> tensors() const override;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<OptimizerParamGroup> groups, const SGDOptions& defaults);
  SGD(std::vector<Tensor> params, const SGDOptions& defaults);

 protected:
  void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
              std::unique_ptr<ParamState>& state) override;
  std::unique_ptr<ParamState> load_state(const Tensor& param, const OptimizerOptions& options,
                                         const std::map<std::string, Tensor>& saved,
                                         const std::string& prefix) const override;
};

}  // namespace ts::optim
