#include "tessera/optim/sgd.h"

#include "optim/saved_state.h"
#include "tessera/backend.h"
#include "tessera/creation.h"

namespace ts::optim {

std::vector<std::pair<std::string, double>> SGDOptions::hyperparameters() const {
  return {{"lr", lr_},
          {"momentum", momentum_},
          {"dampening", dampening_},
          {"weight_decay", weight_decay_},
          {"nesterov", nesterov_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

bool SGDOptions::set_hyperparameter(const std::string& name, double value) {
  const std::pair<const char*, double*> reals[] = {
      {"lr", &lr_}, {"momentum", &momentum_}, {"dampening", &dampening_}, {"weight_decay", &weight_decay_}};
  for (const auto& [key, field] : reals)
    if (name == key) {
      *field = value;
      return true;
    }
  const std::pair<const char*, bool*> flags[] = {{"nesterov", &nesterov_}, {"maximize", &maximize_}};
  for (const auto& [key, field] : flags)
    if (name == key) {
      *field = value != 0;
      return true;
    }
  return false;
}

// The checks and messages of torch.optim.SGD's constructor.
void SGDOptions::validate(const std::string& who) const {
  TS_CHECK(lr_ >= 0, "{}: invalid learning rate {} (must be >= 0)", who, lr_);
  TS_CHECK(momentum_ >= 0, "{}: invalid momentum value {} (must be >= 0)", who, momentum_);
  TS_CHECK(weight_decay_ >= 0, "{}: invalid weight_decay value {} (must be >= 0)", who, weight_decay_);
  TS_CHECK(!nesterov_ || (momentum_ > 0 && dampening_ == 0),
           "{}: Nesterov momentum requires a momentum and zero dampening (got momentum {}, dampening {})", who,
           momentum_, dampening_);
}

std::vector<std::pair<std::string, Tensor>> SGDParamState::tensors() const {
  if (!momentum_buffer.defined()) return {};
  return {{"momentum_buffer", momentum_buffer}};
}

SGD::SGD(std::vector<OptimizerParamGroup> groups, const SGDOptions& defaults)
    : Optimizer("SGD", std::move(groups), defaults.clone()) {}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& defaults)
    : SGD(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, defaults) {}

void SGD::update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
                 std::unique_ptr<ParamState>& state) {
  const auto& o = static_cast<const SGDOptions&>(options);
  SgdUpdate u;
  u.lr = o.lr();
  u.momentum = o.momentum();
  u.dampening = o.dampening();
  u.weight_decay = o.weight_decay();
  u.nesterov = o.nesterov();
  u.maximize = o.maximize();
  Tensor buffer;
  if (o.momentum() != 0) {
    if (!state) state = std::make_unique<SGDParamState>();
    auto& s = static_cast<SGDParamState&>(*state);
    if (!s.momentum_buffer.defined()) {
      s.momentum_buffer = empty_like(param);  // the kernel writes it whole on this first step
      u.init_buffer = true;
    }
    buffer = s.momentum_buffer;
  }
  backend_for(param).sgd_update(param, grad, buffer, u);
}

std::unique_ptr<ParamState> SGD::load_state(const Tensor& param, const OptimizerOptions&,
                                            const std::map<std::string, Tensor>& saved,
                                            const std::string& prefix) const {
  detail::SavedStateReader reader(name() + ".load_state_dict", param, saved, prefix);
  auto s = std::make_unique<SGDParamState>();
  if (reader.has("momentum_buffer")) s->momentum_buffer = reader.tensor("momentum_buffer");
  reader.finish();
  return s;
}

}  // namespace ts::optim
