#pragma once
// Deterministic weights and inputs shared with tests/golden/gen_modules.py (the same formulas
// run in both, so no weights are shipped), and a module gradcheck helper.
#include <tessera/nn.h>

#include "golden/modules_golden.h"
#include "test_util.h"

namespace ts::test {

/// Input element i: scale * sin(0.61 i + phase), computed in float64 then cast to `dtype`.
inline Tensor det(const Shape& shape, double phase = 0.0, double scale = 1.0, DType dtype = kFloat32) {
  NoGradGuard g;
  const Tensor v = sin(arange(numel_of(shape), TensorOptions(kFloat64)) * 0.61 + phase) * scale;
  return v.reshape(shape).to(dtype);
}

/// Parameter k (named_parameters order), element i: 0.5 * sin(0.37 i + 0.9 k + 0.25).
inline void fill_deterministic(nn::Module& m) {
  NoGradGuard g;
  int k = 0;
  for (auto& [name, p] : m.named_parameters()) {
    const Tensor v = sin(arange(p.numel(), TensorOptions(kFloat64)) * 0.37 + (0.9 * k + 0.25)) * 0.5;
    Tensor dst = p;
    dst.copy_(v.reshape(p.shape()));
    ++k;
  }
}

inline Tensor gold(const golden::modules::GoldenArray& a, DType dtype = kFloat64) {
  return golden::modules::to_tensor(a, dtype);
}

/// gradchecks `m.forward(x)` w.r.t. x (when it requires grad) and every parameter of `m`
/// (which must already be float64): the parameters are perturbed in place by gradcheck, and
/// the module reads them through its own handles.
inline void require_module_gradcheck(nn::UnaryModule& m, const Tensor& x, double atol = 1e-5, double rtol = 1e-3) {
  std::vector<Tensor> inputs{x};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  require_gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0]); }, inputs, atol, rtol);
}

}  // namespace ts::test
