// ts::cuda in a build without the CUDA backend (TESSERA_CUDA=OFF or no toolkit): nothing is
// available and every operation says why. src/backend/cuda/cuda_api.cpp replaces this file
// when the backend is built.
#include "tessera/cuda.h"
#include "tessera/error.h"

namespace ts::cuda {
namespace {
constexpr const char* kReason = "Tessera was built without the CUDA backend (configure with -DTESSERA_CUDA=ON)";
[[noreturn]] void unavailable(const char* what) { TS_ERROR("ts::cuda::{}: {}", what, kReason); }
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return kReason; }
void synchronize(int) { unavailable("synchronize"); }
void set_allow_tf32(bool) { unavailable("set_allow_tf32"); }
bool allow_tf32() { return false; }
MemoryStats memory_stats(int) { unavailable("memory_stats"); }
void reset_peak_memory_stats(int) { unavailable("reset_peak_memory_stats"); }
void empty_cache(int) { unavailable("empty_cache"); }
std::string memory_summary(int) { unavailable("memory_summary"); }
Stream Stream::create(int) { unavailable("Stream::create"); }
Stream Stream::current(int) { unavailable("Stream::current"); }
void Stream::synchronize() const { unavailable("Stream::synchronize"); }
bool Stream::query() const { unavailable("Stream::query"); }
void Stream::wait(const Event&) const { unavailable("Stream::wait"); }
StreamGuard::StreamGuard(const Stream&) { unavailable("StreamGuard"); }
StreamGuard::~StreamGuard() = default;
Event::Event(int) { unavailable("Event"); }
void Event::record(const Stream&) { unavailable("Event::record"); }
void Event::synchronize() const { unavailable("Event::synchronize"); }
bool Event::query() const { unavailable("Event::query"); }
float Event::elapsed_ms(const Event&) const { unavailable("Event::elapsed_ms"); }
Tensor pin_memory(const Tensor&) { unavailable("pin_memory"); }
bool is_pinned(const Tensor&) { return false; }
std::shared_ptr<Storage> pinned_storage(size_t) { unavailable("pinned_storage"); }
void record_stream(const Tensor&, const Stream&) { unavailable("record_stream"); }

}  // namespace ts::cuda
