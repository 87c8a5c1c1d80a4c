#pragma once
/// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), with
/// optional AMSGrad: torch.optim.Adam / AdamW's updates (PyTorch 1.13) with bias correction,
/// one fused backend pass per parameter tensor.
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tessera/optim/optimizer.h"

namespace ts::optim {

namespace detail {
// The fields and checks Adam and AdamW share; they differ in the default weight decay and in
// how it is applied.
template <typename Derived>
class AdamOptionsBase : public OptimizerCloneableOptions<Derived> {
 public:
  using self_type = Derived;
  using betas_t = std::tuple<double, double>;
  AdamOptionsBase(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}
  TS_OPTIM_ARG(double, lr);
  TS_OPTIM_ARG(betas_t, betas) = betas_t(0.9, 0.999);
  TS_OPTIM_ARG(double, eps) = 1e-8;
  TS_OPTIM_ARG(double, weight_decay);
  TS_OPTIM_ARG(bool, amsgrad) = false;
  TS_OPTIM_ARG(bool, maximize) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override {
    return {{"lr", lr_},
            {"beta1", std::get<0>(betas_)},
            {"beta2", std::get<1>(betas_)},
            {"eps", eps_},
            {"weight_decay", weight_decay_},
            {"amsgrad", amsgrad_ ? 1.0 : 0.0},
            {"maximize", maximize_ ? 1.0 : 0.0}};
  }
  bool set_hyperparameter(const std::string& name, double value) override {
    const std::pair<const char*, double*> reals[] = {{"lr", &lr_},
                                                     {"beta1", &std::get<0>(betas_)},
                                                     {"beta2", &std::get<1>(betas_)},
                                                     {"eps", &eps_},
                                                     {"weight_decay", &weight_decay_}};
    for (const auto& [key, field] : reals)
      if (name == key) {
        *field = value;
        return true;
      }
    const std::pair<const char*, bool*> flags[] = {{"amsgrad", &amsgrad_}, {"maximize", &maximize_}};
    for (const auto& [key, field] : flags)
      if (name == key) {
        *field = value != 0;
        return true;
      }
    return false;
  }
  // The checks and messages of torch.optim.Adam's constructor.
  void validate(const std::string& who) const override {
    TS_CHECK(lr_ >= 0, "{}: invalid learning rate {} (must be >= 0)", who, lr_);
    TS_CHECK(eps_ >= 0, "{}: invalid epsilon value {} (must be >= 0)", who, eps_);
    TS_CHECK(std::get<0>(betas_) >= 0 && std::get<0>(betas_) < 1,
             "{}: invalid beta parameter at index 0: {} (must be in [0, 1))", who, std::get<0>(betas_));
    TS_CHECK(std::get<1>(betas_) >= 0 && std::get<1>(betas_) < 1,
             "{}: invalid beta parameter at index 1: {} (must be in [0, 1))", who, std::get<1>(betas_));
    TS_CHECK(weight_decay_ >= 0, "{}: invalid weight_decay value {} (must be >= 0)", who, weight_decay_);
  }
};
}  // namespace detail

class AdamOptions : public detail::AdamOptionsBase<AdamOptions> {
 public:
  explicit AdamOptions(double lr = 1e-3) : AdamOptionsBase(lr, 0.0) {}
  const char* type_name() const override { return "AdamOptions"; }
};

class AdamWOptions : public detail::AdamOptionsBase<AdamWOptions> {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamOptionsBase(lr, 1e-2) {}
  const char* type_name() const override { return "AdamWOptions"; }
};

/// State per parameter: "step" (a 0-d float64 count), "exp_avg",
/// "exp_avg_sq" and, with amsgrad, "max_exp_avg_sq".
struct AdamParamState : ParamState {
  int64_t step = 0;
  Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
  std::vector<std::pair<std::string, Tensor>> tensors() const override;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<OptimizerParamGroup> groups, const AdamOptions& defaults);
  Adam(std::vector<Tensor> params, const AdamOptions& defaults);

 protected:
  void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
              std::unique_ptr<ParamState>& state) override;
  std::unique_ptr<ParamState> load_state(const Tensor& param, const OptimizerOptions& options,
                                         const std::map<std::string, Tensor>& saved,
                                         const std::string& prefix) const override;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<OptimizerParamGroup> groups, const AdamWOptions& defaults);
  AdamW(std::vector<Tensor> params, const AdamWOptions& defaults);

 protected:
  void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
              std::unique_ptr<ParamState>& state) override;
  std::unique_ptr<ParamState> load_state(const Tensor& param, const OptimizerOptions& options,
                                         const std::map<std::string, Tensor>& saved,
                                         const std::string& prefix) const override;
};

}  // namespace ts::optim
