#pragma once
// Reading one parameter's saved optimizer state ("state.<i>.<name>" entries) back, with the
// checks every optimizer's load_state needs.
#include <map>
#include <set>
#include <string>

#include "tessera/tensor.h"

namespace ts::optim::detail {

class SavedStateReader {
 public:
  /// `who` names the caller in errors ("Adam.load_state_dict"); `prefix` is "state.<i>.".
  SavedStateReader(std::string who, const Tensor& param, const std::map<std::string, Tensor>& saved,
                   std::string prefix);
  bool has(const std::string& name) const { return saved_.count(name) != 0; }
  /// A private copy of entry `name` in the parameter's dtype and device; it must exist and
  /// have the parameter's shape.
  Tensor tensor(const std::string& name);
  /// A step count: one element holding a non-negative integer.
  int64_t count(const std::string& name);
  /// Throws if an entry was neither read nor expected (e.g. Adam state loaded into SGD).
  void finish() const;

 private:
  std::string who_;
  const Tensor& param_;
  const std::map<std::string, Tensor>& saved_;
  std::string prefix_;
  std::set<std::string> used_;
};

}  // namespace ts::optim::detail
