#pragma once
// Helpers shared by the op implementations (internal; not installed).
#include "tessera/autograd.h"
#include "tessera/backend.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::ops {

/// Throws unless all defined tensors live on one device.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
/// Value conversion that records no autograd (the caller's own node covers it).
Tensor cast(const Tensor& t, DType dtype);
/// A stride-0 view of `t` broadcast to `shape` (no autograd).
Tensor broadcast_view(const Tensor& t, const Shape& shape);
/// Contiguous version of `t` without recording autograd.
Tensor dense(const Tensor& t);
/// The gradient for input `input` from a gradient `g` of the broadcast result: summed to the
/// input's shape and cast to its dtype.
Tensor grad_for(const Tensor& g, const Tensor& input);
/// Throws naming `op` if `t` is not Int64 (or Int32 when `allow_int32`).
void check_index_dtype(const char* op, const Tensor& t, bool allow_int32 = false);
/// Autograd rules for in-place ops on `self`: leaves that require grad and views of tensors
/// that require grad are rejected with an error naming `op`.
void check_inplace(const char* op, const Tensor& self, std::initializer_list<const Tensor*> others);

}  // namespace ts::ops
