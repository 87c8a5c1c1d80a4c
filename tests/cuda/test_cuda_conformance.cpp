// The conformance suite's cases run on CUDA against the CPU backend: forward in every float
// dtype (bfloat16 included), and gradients from autograd in float64 and float32. (The main test
// binary's conformance suite also runs every case on CUDA against the float64 references,
// since it iterates available_backends().)
#include <cmath>

#include <catch2/catch.hpp>

#include "backend/conformance.h"
#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::conformance;
using ts::cuda_test::kCuda;
using ts::cuda_test::kFloatTypes;
using ts::cuda_test::require_same_meta;

namespace {

// Both sides round to the dtype, so the allowance is about two roundings plus accumulation
// order differences.
Tolerance tolerance_for(DType dt, double scale) {
  switch (dt) {
    case DType::Float64: return {1e-10, 1e-10};
    case DType::Float32: return {1e-4 * scale, 1e-5 * scale};
    case DType::Float16: return {2e-2 * scale, 2e-2 * scale};
    default: return {6e-2 * scale, 6e-2 * scale};  // bfloat16: 8 mantissa bits
  }
}

void check_close(const Tensor& cuda_result, const Tensor& cpu_result, Tolerance tol) {
  require_same_meta(cuda_result, cpu_result);
  const auto got = cuda_result.to(Device()).to_vector<double>();
  const auto want = cpu_result.to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": cuda " << got[i] << ", cpu " << want[i]);
    const bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    CHECK((both_nan || std::abs(got[i] - want[i]) <= tol.atol + tol.rtol * std::abs(want[i])));
  }
}

}  // namespace

TEST_CASE("cuda conformance: every op's forward equals the CPU backend's in every float dtype", "[cuda]") {
  const std::vector<Case> cases = all_cases();
  for (DType dt : kFloatTypes) {
    for (const Case& c : cases) {
      INFO("dtype " << dtype_name(dt) << ", case " << c.name);
      Tensor cpu_out;
      try {
        cpu_out = c.op(inputs_on(c.inputs, Device(), dt));
      } catch (const Error&) {
        continue;  // not defined for this dtype on the CPU either (e.g. bfloat16 pooling indices)
      }
      Tensor cuda_out;
      try {
        cuda_out = c.op(inputs_on(c.inputs, kCuda, dt));
      } catch (const Error& e) {
        FAIL_CHECK(e.what());
        continue;
      }
      check_close(cuda_out, cpu_out, tolerance_for(cpu_out.is_floating_point() ? dt : kFloat64, c.f32_tol_scale));
    }
  }
}

TEST_CASE("cuda conformance: every backward equals the CPU backend's gradients", "[cuda]") {
  const std::vector<Case> cases = all_cases();
  for (DType dt : {kFloat64, kFloat32}) {
    for (const Case& c : cases) {
      if (c.grad_inputs.empty()) continue;
      INFO("dtype " << dtype_name(dt) << ", case " << c.name);
      std::vector<std::vector<Tensor>> grads_by_device;
      for (Device dev : {Device(), kCuda}) {
        std::vector<Tensor> in = inputs_on(c.inputs, dev, dt);
        const std::vector<Tensor> wrt = make_grad_leaves(in, c.grad_inputs);
        const Tensor out = c.op(in);
        manual_seed(99);
        const Tensor weights = randn(out.shape(), kFloat64).to(dt).to(dev);
        grads_by_device.push_back(autograd::grad({sum(out * weights)}, wrt));
      }
      for (size_t g = 0; g < c.grad_inputs.size(); ++g) {
        INFO("gradient of input " << c.grad_inputs[g]);
        check_close(grads_by_device[1][g], grads_by_device[0][g], tolerance_for(dt, 10 * c.f32_tol_scale));
      }
    }
  }
}
