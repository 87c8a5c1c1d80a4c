#pragma once
/// Containers: Sequential (chains UnaryModules), ModuleList and ModuleDict (hold modules so
/// their parameters are registered, without defining a forward).
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/error.h"
#include "tessera/nn/module.h"

namespace ts::nn {

namespace detail {
/// dynamic_pointer_cast that reports the actual type when it fails.
template <typename M> std::shared_ptr<M> checked_cast(const std::shared_ptr<Module>& m, const char* container,
                                                      const std::string& key) {
  auto typed = std::dynamic_pointer_cast<M>(m);
  TS_CHECK(typed != nullptr, "{}: entry {} is a {}, not the requested type", container, key, m->name());
  return typed;
}
}  // namespace detail

/// Applies its modules in order: Sequential({std::make_shared<Linear>(784, 128),
/// std::make_shared<ReLU>(), std::make_shared<Linear>(128, 10)}). Children are named "0",
/// "1", ... unless given names.
class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules);
  explicit Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules);
  explicit Sequential(const std::vector<std::pair<std::string, std::shared_ptr<UnaryModule>>>& named_modules);

  /// Appends under the next index as name.
  template <typename M> std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return push_back(std::to_string(layers_.size()), std::move(module));
  }
  template <typename M> std::shared_ptr<M> push_back(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<UnaryModule, M>, "Sequential holds UnaryModules (one tensor in, one out)");
    register_module(name, module);
    layers_.push_back(module);
    return module;
  }

  Tensor forward(const Tensor& x) override;

  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  const std::shared_ptr<UnaryModule>& operator[](size_t index) const;
  /// The module at `index` as type M (throws if it is another type).
  template <typename M> std::shared_ptr<M> at(size_t index) const {
    return detail::checked_cast<M>((*this)[index], "Sequential", std::to_string(index));
  }
  auto begin() const { return layers_.begin(); }
  auto end() const { return layers_.end(); }

 protected:
  void on_replace_module(size_t index, const std::shared_ptr<Module>& module) override;

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

/// An indexable list of modules ("0", "1", ...), e.g. the blocks of a ResNet stage.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);

  template <typename M> std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(modules_.size()), module);
    modules_.push_back(module);
    return module;
  }

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<Module>& operator[](size_t index) const;
  template <typename M> std::shared_ptr<M> at(size_t index) const {
    return detail::checked_cast<M>((*this)[index], "ModuleList", std::to_string(index));
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 protected:
  void on_replace_module(size_t index, const std::shared_ptr<Module>& module) override;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

/// Modules by name, in insertion order.
class ModuleDict : public Module {
 public:
  ModuleDict() = default;
  explicit ModuleDict(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules);

  template <typename M> std::shared_ptr<M> insert(const std::string& key, std::shared_ptr<M> module) {
    register_module(key, module);
    return module;
  }

  size_t size() const { return children_ref().size(); }
  bool empty() const { return children_ref().empty(); }
  bool contains(const std::string& key) const;
  const std::shared_ptr<Module>& operator[](const std::string& key) const;
  template <typename M> std::shared_ptr<M> at(const std::string& key) const {
    return detail::checked_cast<M>((*this)[key], "ModuleDict", "'" + key + "'");
  }
  std::vector<std::string> keys() const;
  auto begin() const { return children_ref().begin(); }
  auto end() const { return children_ref().end(); }
};

}  // namespace ts::nn
