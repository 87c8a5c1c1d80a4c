#pragma once
// The backend conformance suite (ggml's test-backend-ops idea): every op case runs on every
// registered backend and is compared with a naive float64 reference written with plain loops
// (independent of any backend's kernels). Backward passes are pinned against central finite
// differences of the same reference. A new backend passes by registering itself in
// src/backend/backend.cpp; nothing here needs to change.
#include <functional>
#include <string>
#include <vector>

#include <tessera/tessera.h>

namespace ts::conformance {

/// Host float64 array with a shape: what references read and write.
struct Host {
  Shape shape;
  std::vector<double> v;
  explicit Host(const Tensor& t) : shape(t.shape()), v(t.to_vector<double>()) {}
  Host(Shape s, double fill = 0.0) : shape(std::move(s)), v(static_cast<size_t>(numel_of(shape)), fill) {}
  int64_t size(size_t d) const { return shape[d]; }
  /// Row-major flat index of a multi-index.
  size_t flat(const std::vector<int64_t>& idx) const {
    int64_t f = 0;
    for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
    return static_cast<size_t>(f);
  }
  double& operator()(const std::vector<int64_t>& idx) { return v[flat(idx)]; }
  double operator()(const std::vector<int64_t>& idx) const { return v[flat(idx)]; }
  Tensor tensor() const { return shape.empty() ? scalar_tensor(v[0], kFloat64) : ts::tensor(v, shape, kFloat64); }
};

struct Case {
  std::string name;
  /// Host inputs: floating ones are float64 and get converted to the tested dtype; integer
  /// ones (indices) are passed through.
  std::vector<Tensor> inputs;
  /// Runs the op with ts:: calls on whatever device the inputs live on.
  std::function<Tensor(const std::vector<Tensor>&)> op;
  /// Computes the expected output from host float64 inputs with plain loops.
  std::function<Host(const std::vector<Host>&)> reference;
  /// Inputs whose gradient is checked (empty: forward only).
  std::vector<size_t> grad_inputs;
  /// Extra slack for this case's float32 tolerance (e.g. long reductions).
  double f32_tol_scale = 1.0;
};

/// Per-dtype comparison allowance: |got - want| <= atol + rtol * |want|.
struct Tolerance {
  double rtol, atol;
};

/// A case's host inputs on `dev`: floating ones converted to `dt`, index tensors unchanged.
inline std::vector<Tensor> inputs_on(const std::vector<Tensor>& host, Device dev, DType dt) {
  std::vector<Tensor> out;
  for (const Tensor& t : host) out.push_back((t.is_floating_point() ? t.to(dt) : t).to(dev));
  return out;
}

/// Makes the case's grad_inputs of `in` fresh leaves that require grad; returns them in order.
inline std::vector<Tensor> make_grad_leaves(std::vector<Tensor>& in, const std::vector<size_t>& grad_inputs) {
  std::vector<Tensor> wrt;
  for (size_t i : grad_inputs) {
    in[i] = in[i].detach().clone().requires_grad_(true);
    wrt.push_back(in[i]);
  }
  return wrt;
}

std::vector<Case> all_cases();
/// Attention, rms_norm and rotary cases (conformance_transformer_cases.cpp).
void add_transformer_cases(std::vector<Case>& cases);

}  // namespace ts::conformance
