#pragma once
/// Collation: stacks the samples of a batch into tensors with a leading batch dim.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "tessera/data/dataset.h"
#include "tessera/storage.h"

namespace ts::data {

/// A collated batch. `data` and `target` live in ONE contiguous host allocation (target
/// after data, 64-byte aligned) so that a pinned-memory allocator can back the whole batch
/// and a device transfer needs a single copy of `storage()`.
struct Batch {
  Tensor data;                   ///< (B, *sample data shape)
  Tensor target;                 ///< (B, *sample target shape), undefined if the samples have none
  std::vector<int64_t> indices;  ///< the dataset index of each row, in batch order
  int64_t index = 0;             ///< position of this batch within its epoch

  int64_t size() const { return data.defined() ? data.size(0) : 0; }
  /// The allocation holding both tensors.
  const std::shared_ptr<Storage>& storage() const { return data.storage(); }
};

/// Returns host memory of at least `nbytes` for one batch (e.g. page-locked memory for fast
/// device copies). Unset: ordinary CPU memory from the CPU backend.
using BatchAllocator = std::function<std::shared_ptr<Storage>(size_t nbytes)>;

/// Stacks `examples` (all with the same data shape and dtype, and all or none with targets of
/// one shape and dtype) into a Batch; `indices` (same length) are recorded and name the
/// offending sample in errors.
Batch collate(const std::vector<Example>& examples, const std::vector<int64_t>& indices,
              const BatchAllocator& allocator = {});

}  // namespace ts::data
