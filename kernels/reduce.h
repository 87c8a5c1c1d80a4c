#pragma once
// Launchers of the reductions (kernels/reduce.cu): Sum/Mean/Max/Min/Prod over any set of
// dims of a strided tensor, and Max/Min with the index of the winner along one dim.
//
// The host describes x as a (kept, reduced) pair of coalesced index spaces: output `o` (a
// row-major index over the kept dims) reduces the `len` elements at x + kept_offset(o) +
// reduced_offset(r). plan_reduce picks the parallelization from that description; when it
// splits each reduction over several blocks, the partial results go to a workspace the
// caller allocates (ReducePlan::workspace_bytes) and a second kernel combines them.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// ts::ReduceOp's values, in its order.
enum class ReduceKind : uint8_t { Sum, Mean, Max, Min, Prod };

struct ReduceGeometry {
  int64_t kept = 0;  ///< number of outputs
  int64_t len = 0;   ///< elements reduced into each output
  int kept_ndim = 0;
  int64_t kept_sizes[kMaxDims] = {};
  /// Strides of the kept dims in x, in the (values) output and in the indices output.
  int64_t kept_strides[3][kMaxDims] = {};
  int red_ndim = 0;
  int64_t red_sizes[kMaxDims] = {};
  int64_t red_strides[kMaxDims] = {};  ///< in x
};

/// How a reduction is spread over the GPU (plan_reduce fills it; launchers take it as is).
struct ReducePlan {
  /// Inner: `group` threads (a power of two) cooperate on each output, with warp shuffles;
  /// for reductions along x's unit-stride dim. Outer: each of `block_x` threads owns an
  /// output (consecutive outputs are adjacent in memory) and `block_y` threads share its
  /// reduction, combined in shared memory.
  bool inner = true;
  int group = 32;
  int block_x = 256, block_y = 1;
  unsigned grid_x = 1;
  int splits = 1;       ///< blocks (grid y) sharing one reduction
  int64_t chunk = 0;    ///< reduced elements per split
  size_t workspace_bytes = 0;
};

ReducePlan plan_reduce(const ReduceGeometry& g);

/// out (x's `type`) = op over each output's elements. Floats accumulate in double, integers
/// and bools in int64 (as the CPU backend); Max/Min propagate NaN; an empty reduction writes
/// the identity (NaN for Mean).
cudaError_t reduce(ReduceKind op, ScalarType type, const void* x, void* out, const ReduceGeometry& g,
                   const ReducePlan& plan, void* workspace, cudaStream_t stream);

/// values (x's `type`) and int64 indices of each output's max (is_max) or min: the first NaN
/// if there is one, else the first occurrence of the extremum. g.len must be > 0.
cudaError_t arg_reduce(bool is_max, ScalarType type, const void* x, void* values, int64_t* indices,
                       const ReduceGeometry& g, const ReducePlan& plan, void* workspace, cudaStream_t stream);

}  // namespace ts::kernels
