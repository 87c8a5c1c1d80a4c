#pragma once
/// Gradient clipping (torch.nn.utils.clip_grad_norm_).
#include <limits>
#include <vector>

#include "tessera/tensor.h"

namespace ts::optim {

/// Scales the gradients of `params` in place so that their combined norm of order `norm_type`
/// (the norm of the per-tensor norms; p > 0 or infinity) is at most `max_norm`, and returns
/// that total norm from before clipping. Parameters without a gradient are skipped; with no
/// gradients at all the result is 0. With `error_if_nonfinite`, a NaN or infinite total norm
/// throws ts::Error (and nothing is scaled); otherwise the gradients are scaled regardless.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// clip_grad_norm_ returning the total norm as a 0-d tensor on the gradients' device, as
/// PyTorch's does, without waiting for it: on a GPU the host goes on queueing the scaling and
/// the optimizer step instead of idling on a device-to-host read every step. (Only
/// `error_if_nonfinite` reads the total on the host.) With no gradients it returns an
/// undefined tensor.
Tensor clip_grad_norm_tensor_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                              bool error_if_nonfinite = false);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

}  // namespace ts::optim
