// softmax / log_softmax over one dim: the op layer makes x contiguous and leaves the
// numerics (max subtraction) to Backend::softmax; backward uses the saved result only.
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

Tensor softmax_impl(const Tensor& x, int64_t dim_in, bool log, const char* name) {
  TS_CHECK(x.defined(), "{}: input tensor is undefined", name);
  TS_CHECK(x.is_floating_point(), "{}: expected a floating-point input but got {} (shape {})", name,
           dtype_name(x.dtype()), shape_str(x.shape()));
  // A 0-d tensor behaves like a 1-element vector (dim 0 or -1), as in PyTorch.
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x.dim(), 1), name);
  const Tensor xc = ops::dense(x);
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  if (x.numel() > 0) backend_for(x).softmax(xc, dim, log, out);
  if (autograd::any_requires_grad({&x})) {
    autograd::record(name, {x}, {out},
                     [dim, log, sy = SavedTensor(out)](const std::vector<Tensor>& g, const Node& self) {
                       const Tensor y = sy.unpack(self);
                       Tensor gi = make_tensor(y.shape(), y.dtype(), y.device());
                       if (y.numel() > 0) {
                         const Tensor gd = ops::dense(ops::cast(g[0], y.dtype()));
                         backend_for(y).softmax_backward(gd, y, dim, log, gi);
                       }
                       return std::vector<Tensor>{gi};
                     });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

}  // namespace ts
