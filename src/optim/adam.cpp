#include "tessera/optim/adam.h"

#include "optim/saved_state.h"
#include "tessera/backend.h"
#include "tessera/creation.h"

namespace ts::optim {
namespace {

template <typename Options>
void adam_like_update(const Tensor& param, const Tensor& grad, const Options& o, bool decoupled,
                      std::unique_ptr<ParamState>& state) {
  if (!state) {
    auto s = std::make_unique<AdamParamState>();
    s->exp_avg = zeros_like(param);
    s->exp_avg_sq = zeros_like(param);
    state = std::move(s);
  }
  auto& s = static_cast<AdamParamState&>(*state);
  // Created lazily so amsgrad can be switched on for a group mid-training.
  if (o.amsgrad() && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros_like(param);
  AdamUpdate u;
  u.lr = o.lr();
  u.beta1 = std::get<0>(o.betas());
  u.beta2 = std::get<1>(o.betas());
  u.eps = o.eps();
  u.weight_decay = o.weight_decay();
  u.amsgrad = o.amsgrad();
  u.maximize = o.maximize();
  u.decoupled_weight_decay = decoupled;
  u.step = ++s.step;
  backend_for(param).adam_update(param, grad, s.exp_avg, s.exp_avg_sq, o.amsgrad() ? s.max_exp_avg_sq : Tensor(), u);
}

std::unique_ptr<ParamState> load_adam_state(const std::string& who, const Tensor& param, bool amsgrad,
                                            const std::map<std::string, Tensor>& saved, const std::string& prefix) {
  detail::SavedStateReader reader(who, param, saved, prefix);
  auto s = std::make_unique<AdamParamState>();
  s->step = reader.count("step");
  s->exp_avg = reader.tensor("exp_avg");
  s->exp_avg_sq = reader.tensor("exp_avg_sq");
  // Required with amsgrad; accepted without (a group that had it switched off).
  if (amsgrad || reader.has("max_exp_avg_sq")) s->max_exp_avg_sq = reader.tensor("max_exp_avg_sq");
  reader.finish();
  return s;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> AdamParamState::tensors() const {
  // A 0-d float tensor like PyTorch 1.13's `step` state, but float64 (PyTorch's float32 stops
  // counting exactly after 2^24 steps).
  std::vector<std::pair<std::string, Tensor>> t = {
      {"step", scalar_tensor(static_cast<double>(step), TensorOptions(kFloat64))},
      {"exp_avg", exp_avg},
      {"exp_avg_sq", exp_avg_sq}};
  if (max_exp_avg_sq.defined()) t.emplace_back("max_exp_avg_sq", max_exp_avg_sq);
  return t;
}

Adam::Adam(std::vector<OptimizerParamGroup> groups, const AdamOptions& defaults)
    : Optimizer("Adam", std::move(groups), defaults.clone()) {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& defaults)
    : Adam(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, defaults) {}

void Adam::update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
                  std::unique_ptr<ParamState>& state) {
  adam_like_update(param, grad, static_cast<const AdamOptions&>(options), false, state);
}

std::unique_ptr<ParamState> Adam::load_state(const Tensor& param, const OptimizerOptions& options,
                                             const std::map<std::string, Tensor>& saved,
                                             const std::string& prefix) const {
  return load_adam_state(name() + ".load_state_dict", param, static_cast<const AdamOptions&>(options).amsgrad(), saved,
                         prefix);
}

AdamW::AdamW(std::vector<OptimizerParamGroup> groups, const AdamWOptions& defaults)
    : Optimizer("AdamW", std::move(groups), defaults.clone()) {}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& defaults)
    : AdamW(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, defaults) {}

void AdamW::update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
                   std::unique_ptr<ParamState>& state) {
  adam_like_update(param, grad, static_cast<const AdamWOptions&>(options), true, state);
}

std::unique_ptr<ParamState> AdamW::load_state(const Tensor& param, const OptimizerOptions& options,
                                              const std::map<std::string, Tensor>& saved,
                                              const std::string& prefix) const {
  return load_adam_state(name() + ".load_state_dict", param, static_cast<const AdamWOptions&>(options).amsgrad(), saved,
                         prefix);
}

}  // namespace ts::optim
