#pragma once
/// An insertion-ordered name -> Tensor map: what Module::state_dict(), optimizers'
/// state_dict() and checkpoints (ts::save / ts::load) exchange.
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/tensor.h"

namespace ts {

class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  /// Adds or replaces `key` (a replaced key keeps its original position).
  void insert(const std::string& key, const Tensor& value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      items_[it->second].second = value;
      return;
    }
    index_.emplace(key, items_.size());
    items_.emplace_back(key, value);
  }
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  /// The tensor stored under `key`; throws ts::Error naming the key when absent.
  const Tensor& at(const std::string& key) const {
    auto it = index_.find(key);
    TS_CHECK(it != index_.end(), "StateDict: no entry named '{}'", key);
    return items_[it->second].second;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    k.reserve(items_.size());
    for (const auto& [name, t] : items_) k.push_back(name);
    return k;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace ts
