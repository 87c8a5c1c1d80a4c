#include "tessera/storage.h"

#include "tessera/backend.h"

namespace ts {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = backend_for(device.type).allocate(nbytes, device.index);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (owned_) {
    backend_for(device_.type).deallocate(data_, nbytes_, device_.index);
  } else if (deleter_) {
    deleter_(data_);
  }
}

}  // namespace ts
