#include "tessera/nn/container.h"

namespace ts::nn {

// ---- Sequential ------------------------------------------------------------------------------

Sequential::Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<std::pair<std::string, std::shared_ptr<UnaryModule>>>& named_modules) {
  for (const auto& [n, m] : named_modules) push_back(n, m);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& layer : layers_) y = layer->forward(y);
  return y;
}

const std::shared_ptr<UnaryModule>& Sequential::operator[](size_t index) const {
  TS_CHECK(index < layers_.size(), "Sequential: index {} is out of range for a Sequential of {} modules", index,
           layers_.size());
  return layers_[index];
}

void Sequential::on_replace_module(size_t index, const std::shared_ptr<Module>& module) {
  auto unary = std::dynamic_pointer_cast<UnaryModule>(module);
  TS_CHECK(unary != nullptr, "Sequential: replacement module {} is not a UnaryModule (one tensor in, one out)",
           module->name());
  layers_[index] = std::move(unary);
}

// ---- ModuleList ------------------------------------------------------------------------------

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t index) const {
  TS_CHECK(index < modules_.size(), "ModuleList: index {} is out of range for a ModuleList of {} modules", index,
           modules_.size());
  return modules_[index];
}

void ModuleList::on_replace_module(size_t index, const std::shared_ptr<Module>& module) { modules_[index] = module; }

// ---- ModuleDict ------------------------------------------------------------------------------

ModuleDict::ModuleDict(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules) {
  for (const auto& [key, m] : modules) insert(key, m);
}

bool ModuleDict::contains(const std::string& key) const {
  for (const auto& [n, m] : children_ref())
    if (n == key) return true;
  return false;
}

const std::shared_ptr<Module>& ModuleDict::operator[](const std::string& key) const {
  for (const auto& [n, m] : children_ref())
    if (n == key) return m;
  TS_ERROR("ModuleDict: no module named '{}' (keys: {})", key, fmt::join(keys(), ", "));
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : children_ref()) out.push_back(n);
  return out;
}

}  // namespace ts::nn
