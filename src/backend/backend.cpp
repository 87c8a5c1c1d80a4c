// Backend base class defaults and the backend registry (the one place backends are listed).
#include "tessera/backend.h"

#include <array>
#include <memory>

#include "backend/cpu/cpu_backend.h"
#if defined(TESSERA_HAVE_CUDA)
#include "backend/cuda/cuda_backend.h"
#endif

namespace ts {

void Backend::unsupported(const char* op) const {
  TS_ERROR("{}: this operation is not available on the {} backend", op, name());
}

void Backend::copy(const Tensor&, const Tensor&) { unsupported("copy"); }
void Backend::fill(const Tensor&, double) { unsupported("fill"); }
void Backend::unary(UnaryOp, const UnaryParams&, const Tensor&, const Tensor&) { unsupported("unary"); }
void Backend::unary_backward(UnaryOp, const UnaryParams&, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&) {
  unsupported("unary_backward");
}
void Backend::binary(BinaryOp, const Tensor&, const Tensor&, const Tensor&) { unsupported("binary"); }
void Backend::where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { unsupported("where"); }
void Backend::fill_uniform(const Tensor&, double, double, uint64_t, uint64_t) { unsupported("fill_uniform"); }
void Backend::fill_normal(const Tensor&, double, double, uint64_t, uint64_t) { unsupported("fill_normal"); }
void Backend::reduce(ReduceOp, const Tensor&, const std::vector<int64_t>&, const Tensor&) { unsupported("reduce"); }
void Backend::arg_reduce(ReduceOp, const Tensor&, int64_t, const Tensor&, const Tensor&) {
  unsupported("arg_reduce");
}
void Backend::matmul(const Tensor&, const Tensor&, const Tensor&) { unsupported("matmul"); }
void Backend::softmax(const Tensor&, int64_t, bool, const Tensor&) { unsupported("softmax"); }
void Backend::softmax_backward(const Tensor&, const Tensor&, int64_t, bool, const Tensor&) {
  unsupported("softmax_backward");
}
void Backend::conv2d(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&, const Tensor&) {
  unsupported("conv2d");
}
void Backend::conv2d_backward(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&, const Tensor&,
                              const Tensor&, const Tensor&) {
  unsupported("conv2d_backward");
}
void Backend::max_pool2d(const Tensor&, const Pool2dParams&, const Tensor&, const Tensor&) {
  unsupported("max_pool2d");
}
void Backend::max_pool2d_backward(const Tensor&, const Tensor&, const Pool2dParams&, const Tensor&) {
  unsupported("max_pool2d_backward");
}
void Backend::avg_pool2d(const Tensor&, const Pool2dParams&, const Tensor&) { unsupported("avg_pool2d"); }
void Backend::avg_pool2d_backward(const Tensor&, const Pool2dParams&, const Tensor&) {
  unsupported("avg_pool2d_backward");
}
void Backend::adaptive_avg_pool2d(const Tensor&, const Tensor&) { unsupported("adaptive_avg_pool2d"); }
void Backend::adaptive_avg_pool2d_backward(const Tensor&, const Tensor&) {
  unsupported("adaptive_avg_pool2d_backward");
}
void Backend::layer_norm(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&,
                         const Tensor&) {
  unsupported("layer_norm");
}
void Backend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&) {
  unsupported("layer_norm_backward");
}
void Backend::rms_norm(const Tensor&, const Tensor&, double, const Tensor&, const Tensor&) { unsupported("rms_norm"); }
void Backend::rms_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&) {
  unsupported("rms_norm_backward");
}
void Backend::attention(const Tensor&, const Tensor&, const Tensor&, const AttentionParams&, const Tensor&,
                        const Tensor&) {
  unsupported("attention");
}
void Backend::attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const AttentionParams&, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("attention_backward");
}
void Backend::batch_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                         double, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("batch_norm");
}
void Backend::batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool,
                                  const Tensor&, const Tensor&, const Tensor&) {
  unsupported("batch_norm_backward");
}
void Backend::cross_entropy(const Tensor&, const Tensor&, int64_t, const Tensor&, const Tensor&) {
  unsupported("cross_entropy");
}
void Backend::cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                                     const Tensor&) {
  unsupported("cross_entropy_backward");
}
void Backend::index_select(const Tensor&, int64_t, const Tensor&, const Tensor&) { unsupported("index_select"); }
void Backend::index_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { unsupported("index_add"); }
void Backend::gather(const Tensor&, int64_t, const Tensor&, const Tensor&) { unsupported("gather"); }
void Backend::scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { unsupported("scatter_add"); }
void Backend::sgd_update(const Tensor&, const Tensor&, const Tensor&, const SgdUpdate&) { unsupported("sgd_update"); }
void Backend::adam_update(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          const AdamUpdate&) {
  unsupported("adam_update");
}

// ---- registry ------------------------------------------------------------------------------
// Every backend is listed here (one #ifdef per optional backend), like ggml-backend's registry.
namespace {
std::array<Backend*, kNumDeviceTypes>& registry() {
  static std::array<Backend*, kNumDeviceTypes> backends = [] {
    std::array<Backend*, kNumDeviceTypes> b{};
    b[static_cast<int>(DeviceType::CPU)] = &cpu_backend();
#if defined(TESSERA_HAVE_CUDA)
    b[static_cast<int>(DeviceType::CUDA)] = &cuda_backend();
#endif
    return b;
  }();
  return backends;
}
const char* device_type_name(DeviceType t) { return t == DeviceType::CPU ? "cpu" : "cuda"; }
}  // namespace

Backend& backend_for(DeviceType type) {
  Backend* b = registry()[static_cast<int>(type)];
  TS_CHECK(b != nullptr, "no backend for device type '{}' in this build (was Tessera built with it enabled?)",
           device_type_name(type));
  TS_CHECK(b->device_count() > 0, "device type '{}' is not available on this machine: {} reports no devices",
           device_type_name(type), b->name());
  return *b;
}

bool is_available(DeviceType type) {
  Backend* b = registry()[static_cast<int>(type)];
  return b != nullptr && b->device_count() > 0;
}

std::vector<Backend*> available_backends() {
  std::vector<Backend*> out;
  for (Backend* b : registry())
    if (b != nullptr && b->device_count() > 0) out.push_back(b);
  return out;
}

}  // namespace ts
