// Runs every conformance case on every available backend, in float64, float32 and float16,
// forward against the float64 reference and (in float64) backward against finite
// differences of the reference.
#include <catch2/catch.hpp>

#include "backend/conformance.h"

using namespace ts;
using namespace ts::conformance;

namespace {

Tolerance tolerance_for(DType dt, double scale) {
  switch (dt) {
    case DType::Float64: return {1e-9, 1e-9};
    case DType::Float32: return {1e-4 * scale, 1e-5 * scale};
    default: return {3e-2 * scale, 3e-2 * scale};
  }
}

double weighted_reference(const Case& c, const std::vector<Host>& in, const Host& w) {
  const Host r = c.reference(in);
  double s = 0;
  for (size_t i = 0; i < r.v.size(); ++i) s += r.v[i] * w.v[i];
  return s;
}

}  // namespace

TEST_CASE("conformance: every op matches the float64 reference on every backend", "[conformance]") {
  const std::vector<Case> cases = all_cases();
  REQUIRE(cases.size() > 50);
  const auto backends = available_backends();
  REQUIRE(!backends.empty());
  for (Backend* be : backends) {
    const Device dev(be->type());
    for (DType dt : {kFloat64, kFloat32, kFloat16}) {
      for (const Case& c : cases) {
        INFO("backend " << be->name() << ", dtype " << dtype_name(dt) << ", case " << c.name);
        std::vector<Host> host_in;
        for (const Tensor& t : c.inputs) host_in.emplace_back(t.to(kFloat64));
        const Host expected = c.reference(host_in);
        Tensor out;
        try {
          out = c.op(inputs_on(c.inputs, dev, dt));
        } catch (const Error& e) {
          FAIL_CHECK(e.what());
          continue;
        }
        CHECK(out.device() == dev);
        CHECK(out.shape() == expected.shape);
        if (out.shape() != expected.shape) continue;
        if (out.is_floating_point()) CHECK(out.dtype() == dt);
        const Tolerance tol = tolerance_for(out.is_floating_point() ? dt : kFloat64, c.f32_tol_scale);
        const auto got = out.to(Device()).to_vector<double>();
        for (size_t i = 0; i < got.size(); ++i) {
          INFO("element " << i);
          CHECK(std::abs(got[i] - expected.v[i]) <= tol.atol + tol.rtol * std::abs(expected.v[i]));
        }
      }
    }
  }
}

TEST_CASE("conformance: every backward matches finite differences of the reference", "[conformance]") {
  const std::vector<Case> cases = all_cases();
  for (Backend* be : available_backends()) {
    const Device dev(be->type());
    for (const Case& c : cases) {
      if (c.grad_inputs.empty()) continue;
      INFO("backend " << be->name() << ", case " << c.name);
      std::vector<Tensor> in = inputs_on(c.inputs, dev, kFloat64);
      const std::vector<Tensor> wrt = make_grad_leaves(in, c.grad_inputs);
      const Tensor out = c.op(in);
      manual_seed(99);
      const Tensor w = randn(out.shape(), kFloat64);
      std::vector<Tensor> grads;
      try {
        grads = autograd::grad({sum(out * w.to(dev))}, wrt);
      } catch (const Error& e) {
        FAIL_CHECK(e.what());
        continue;
      }
      const Host wh(w);
      std::vector<Host> host_in;
      for (const Tensor& t : c.inputs) host_in.emplace_back(t.to(kFloat64));
      for (size_t g = 0; g < c.grad_inputs.size(); ++g) {
        const size_t i = c.grad_inputs[g];
        REQUIRE(grads[g].defined());
        const auto analytic = grads[g].to(Device()).to_vector<double>();
        for (size_t k = 0; k < host_in[i].v.size(); ++k) {
          const double eps = 1e-6, orig = host_in[i].v[k];
          host_in[i].v[k] = orig + eps;
          const double up = weighted_reference(c, host_in, wh);
          host_in[i].v[k] = orig - eps;
          const double down = weighted_reference(c, host_in, wh);
          host_in[i].v[k] = orig;
          const double numeric = (up - down) / (2 * eps);
          INFO("input " << i << " element " << k << ": analytic " << analytic[k] << " numeric " << numeric);
          CHECK(std::abs(analytic[k] - numeric) <= 1e-5 + 1e-4 * std::abs(numeric));
        }
      }
    }
  }
}
