// CudaBackend fused optimizer updates (kernels/optim.cu): one launch per parameter tensor,
// reading and writing every operand in place through its own strides.
#include <initializer_list>
#include <utility>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/optim.h"

namespace ts {
namespace {

using Named = std::pair<const char*, const Tensor*>;

void check_operands(const char* op, const Tensor& param, std::initializer_list<Named> others) {
  TS_CHECK(param.dtype() == DType::Float32 || param.dtype() == DType::Float64,
           "{}: expected a float32 or float64 tensor but got {}", op, dtype_name(param.dtype()));
  for (const auto& [what, t] : others) {
    TS_CHECK(t->dtype() == param.dtype() && t->shape() == param.shape(),
             "{}: {} ({} of shape {}) must match the parameter ({} of shape {})", op, what, dtype_name(t->dtype()),
             shape_str(t->shape()), dtype_name(param.dtype()), shape_str(param.shape()));
  }
}

}  // namespace

void CudaBackend::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                             const SgdUpdate& u) {
  constexpr const char* op = "sgd_update";
  const int dev = cuda_detail::common_device(op, {&param, &grad, &momentum_buffer});
  const bool momentum = u.momentum != 0;
  TS_CHECK(!momentum || momentum_buffer.defined(), "{}: momentum {} needs a momentum buffer", op, u.momentum);
  if (momentum) {
    check_operands(op, param, {{"grad", &grad}, {"momentum_buffer", &momentum_buffer}});
  } else {
    check_operands(op, param, {{"grad", &grad}});
  }
  if (param.numel() == 0) return;
  const kernels::ElementwiseGeometry g = momentum
                                             ? cuda_detail::elementwise_geometry(op, {&param, &grad, &momentum_buffer})
                                             : cuda_detail::elementwise_geometry(op, {&param, &grad});
  kernels::SgdStep s;
  s.lr = u.lr;
  s.momentum = u.momentum;
  s.dampening = u.dampening;
  s.weight_decay = u.weight_decay;
  s.nesterov = u.nesterov;
  s.maximize = u.maximize;
  s.init_buffer = u.init_buffer;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::sgd_update(param.raw_data(), grad.raw_data(), momentum ? momentum_buffer.raw_data() : nullptr,
                                    g, s, cuda_detail::scalar_type(param.dtype()), cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                              const Tensor& max_exp_avg_sq, const AdamUpdate& u) {
  constexpr const char* op = "adam_update";
  const int dev = cuda_detail::common_device(op, {&param, &grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq});
  TS_CHECK(exp_avg.defined() && exp_avg_sq.defined(), "{}: exp_avg and exp_avg_sq are required", op);
  TS_CHECK(!u.amsgrad || max_exp_avg_sq.defined(), "{}: amsgrad needs max_exp_avg_sq", op);
  check_operands(op, param, {{"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}});
  if (u.amsgrad) check_operands(op, param, {{"max_exp_avg_sq", &max_exp_avg_sq}});
  if (param.numel() == 0) return;
  // Five operands exceed one geometry's kMaxOperands: max_exp_avg_sq gets its own layout,
  // walked in the same row-major element order.
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry(op, {&param, &grad, &exp_avg, &exp_avg_sq});
  const kernels::StridedLayout max_layout =
      u.amsgrad ? cuda_detail::strided_layout(op, max_exp_avg_sq) : kernels::StridedLayout{};
  kernels::AdamStep s;
  s.lr = u.lr;
  s.beta1 = u.beta1;
  s.beta2 = u.beta2;
  s.eps = u.eps;
  s.weight_decay = u.weight_decay;
  s.amsgrad = u.amsgrad;
  s.maximize = u.maximize;
  s.decoupled_weight_decay = u.decoupled_weight_decay;
  s.step = u.step;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::adam_update(param.raw_data(), grad.raw_data(), exp_avg.raw_data(), exp_avg_sq.raw_data(),
                                     u.amsgrad ? max_exp_avg_sq.raw_data() : nullptr, g, max_layout, s,
                                     cuda_detail::scalar_type(param.dtype()), cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
