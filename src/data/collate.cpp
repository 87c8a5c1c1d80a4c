#include "tessera/data/collate.h"

#include <cstring>

#include "tessera/autograd.h"  // completes TensorImpl for make_shared

namespace ts::data {
namespace {

constexpr size_t kTargetAlignment = 64;

std::string describe(const Tensor& t) {
  return t.defined() ? fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape())) : "no tensor";
}

/// A tensor of `shape`/`dtype` over `storage` starting `byte_offset` bytes in.
Tensor tensor_in(const std::shared_ptr<Storage>& storage, size_t byte_offset, const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->offset = static_cast<int64_t>(byte_offset / element_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

/// Copies sample `t` (any device or strides) to `dst` as contiguous bytes.
void copy_sample(const Tensor& t, void* dst) {
  if (t.is_cpu() && t.is_contiguous()) {
    std::memcpy(dst, t.raw_data(), t.nbytes());
    return;
  }
  const Tensor c = t.to(Device(DeviceType::CPU)).contiguous();
  std::memcpy(dst, c.raw_data(), c.nbytes());
}

}  // namespace

Batch collate(const std::vector<Example>& examples, const std::vector<int64_t>& indices,
              const BatchAllocator& allocator) {
  TS_CHECK(!examples.empty(), "collate: a batch needs at least one example");
  TS_CHECK(indices.size() == examples.size(), "collate: {} examples but {} dataset indices", examples.size(),
           indices.size());
  const Example& first = examples.front();
  TS_CHECK(first.data.defined(), "collate: sample {} has no data tensor", indices[0]);
  const bool has_target = first.target.defined();
  for (size_t i = 1; i < examples.size(); ++i) {
    const Example& ex = examples[i];
    TS_CHECK(ex.data.defined() && ex.data.dtype() == first.data.dtype() && ex.data.shape() == first.data.shape(),
             "collate: sample {} has data {} but sample {} (the batch's first) has {}; every sample of a batch "
             "needs the same data shape and dtype", indices[i], describe(ex.data), indices[0], describe(first.data));
    TS_CHECK(ex.target.defined() == has_target &&
                 (!has_target || (ex.target.dtype() == first.target.dtype() &&
                                  ex.target.shape() == first.target.shape())),
             "collate: sample {} has target {} but sample {} (the batch's first) has {}; every sample of a batch "
             "needs the same target shape and dtype", indices[i], describe(ex.target), indices[0],
             describe(first.target));
  }

  const auto n = static_cast<int64_t>(examples.size());
  Shape data_shape{n};
  data_shape.insert(data_shape.end(), first.data.shape().begin(), first.data.shape().end());
  const size_t data_sample_bytes = first.data.nbytes();
  const size_t data_bytes = data_sample_bytes * examples.size();
  size_t target_offset = 0, target_sample_bytes = 0, total = data_bytes;
  Shape target_shape{n};
  if (has_target) {
    target_shape.insert(target_shape.end(), first.target.shape().begin(), first.target.shape().end());
    target_offset = (data_bytes + kTargetAlignment - 1) / kTargetAlignment * kTargetAlignment;
    target_sample_bytes = first.target.nbytes();
    total = target_offset + target_sample_bytes * examples.size();
  }

  std::shared_ptr<Storage> storage = allocator ? allocator(total) : std::make_shared<Storage>(total, Device());
  TS_CHECK(storage != nullptr && storage->nbytes() >= total && storage->device().is_cpu(),
           "collate: the batch allocator returned {} for a batch of {} bytes; it must return host (CPU) memory of "
           "at least that size", storage == nullptr ? std::string("no storage")
                                                    : fmt::format("{} bytes on {}", storage->nbytes(),
                                                                  storage->device().str()), total);

  Batch batch;
  batch.data = tensor_in(storage, 0, data_shape, first.data.dtype());
  auto* base = static_cast<unsigned char*>(storage->data());
  for (size_t i = 0; i < examples.size(); ++i) copy_sample(examples[i].data, base + i * data_sample_bytes);
  if (has_target) {
    batch.target = tensor_in(storage, target_offset, target_shape, first.target.dtype());
    for (size_t i = 0; i < examples.size(); ++i) {
      copy_sample(examples[i].target, base + target_offset + i * target_sample_bytes);
    }
  }
  batch.indices = indices;
  return batch;
}

}  // namespace ts::data
