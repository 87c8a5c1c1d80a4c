#include "dist/flight_recorder.h"

#include <algorithm>
#include <cstdio>

#include "dist/transport.h"
#include "tessera/dist/runtime.h"

namespace ts::dist::detail {
namespace {

const char* state_name(OpState s) {
  switch (s) {
    case OpState::Queued: return "queued";
    case OpState::Posted: return "posted";
    case OpState::Running: return "running";
    case OpState::Done: return "done";
    case OpState::Failed: return "failed";
  }
  return "?";
}

std::string line(const OpRecord& r, std::chrono::steady_clock::time_point now) {
  std::string seq = r.seq >= 0 ? fmt::format("#{}", r.seq) : std::string("p2p");
  std::string s =
      fmt::format("  {:>5} {:<10} {:<28} {:<24} {}", seq, r.group, r.label(), r.tensor_text(), state_name(r.state));
  if (r.state == OpState::Running) {
    s += fmt::format(" for {:.1f} s", std::chrono::duration<double>(now - r.started).count());
  }
  return s;
}

}  // namespace

void OpRecord::set_tensor(const Tensor& t) {
  if (!t.defined()) return;
  has_tensor = true;
  dtype = t.dtype();
  ndim = static_cast<int>(t.dim());
  for (int i = 0; i < std::min(ndim, kMaxDims); ++i) dims[static_cast<size_t>(i)] = t.size(i);
}

std::string OpRecord::label() const {
  std::string s = op;
  if (*detail) return fmt::format("{}({})", s, detail);
  if (seq < 0) return fmt::format("{}({} {}, tag {})", s, s == "send" ? "to" : "from", peer, tag);
  if (peer >= 0) return fmt::format("{}(root {})", s, peer);
  return s;
}

std::string OpRecord::tensor_text() const {
  if (!has_tensor) return {};
  std::vector<int64_t> shown(dims.begin(), dims.begin() + std::min(ndim, kMaxDims));
  return fmt::format("{} [{}{}]", dtype_name(dtype), fmt::join(shown, ", "), ndim > kMaxDims ? ", ..." : "");
}

uint64_t FlightRecorder::add(OpRecord record) {
  std::lock_guard<std::mutex> lock(mutex_);
  record.id = next_id_++;
  recent_.push_back(std::move(record));
  if (recent_.size() > kCapacity) {
    // A running op stays printable after it leaves the ring (a hang behind many async ops).
    if (recent_.front().state == OpState::Running) evicted_running_.push_back(recent_.front());
    recent_.pop_front();
  }
  return recent_.back().id;
}

OpRecord* FlightRecorder::find(uint64_t id) {
  for (auto it = recent_.rbegin(); it != recent_.rend(); ++it)
    if (it->id == id) return &*it;
  for (auto& r : evicted_running_)
    if (r.id == id) return &r;
  return nullptr;
}

void FlightRecorder::set_state(uint64_t id, OpState state, double timeout_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  OpRecord* r = find(id);
  if (state == OpState::Running) {
    const auto now = std::chrono::steady_clock::now();
    running_.push_back({id, now, timeout_s});
    if (r) {
      r->started = now;
      r->timeout_s = timeout_s;
    }
  } else {
    std::erase_if(running_, [id](const Watched& w) { return w.id == id; });
    std::erase_if(evicted_running_, [id](const OpRecord& e) { return e.id == id; });
  }
  if (r) r->state = state;
}

std::string FlightRecorder::dump() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::string out = fmt::format("  {:>5} {:<10} {:<28} {:<24} {}\n", "seq", "group", "op", "tensor", "state");
  for (const auto& r : evicted_running_) out += line(r, now) + "\n";
  for (const auto& r : recent_) out += line(r, now) + "\n";
  return out;
}

std::string FlightRecorder::overdue(std::chrono::steady_clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& w : running_) {
    const double age = std::chrono::duration<double>(now - w.started).count();
    if (w.timeout_s <= 0 || age <= w.timeout_s) continue;
    const OpRecord* r = find(w.id);
    return fmt::format("{} on group {} (sequence {}) has not completed after {:.1f} s (timeout {} s)",
                       r ? r->label() : std::string("an op"), r ? r->group : std::string("?"), r ? r->seq : -1, age,
                       w.timeout_s);
  }
  return {};
}

FlightRecorder& recorder() {
  static FlightRecorder* instance = new FlightRecorder();  // outlives static destructors
  return *instance;
}

namespace {

struct Watchdog {
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;
};

Watchdog& watchdog() {
  static Watchdog* instance = new Watchdog();
  return *instance;
}

void watch() {
  Watchdog& w = watchdog();
  std::unique_lock<std::mutex> lock(w.mutex);
  while (!w.stop) {
    w.cv.wait_for(lock, std::chrono::milliseconds(100));
    if (w.stop) break;
    std::string late = recorder().overdue(std::chrono::steady_clock::now());
    if (late.empty()) continue;
    // Print the recorder on every rank before anyone aborts: the other ranks' watchdogs fire
    // within the same second, and MPI_Abort from the first one ends them all.
    std::string text = fmt::format("tessera rank {}/{}: watchdog: {}\ntessera rank {}/{}: flight recorder:\n{}",
                                   ts::dist::rank(), ts::dist::world_size(), late, ts::dist::rank(),
                                   ts::dist::world_size(), recorder().dump());
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    transport_abort(1);
  }
}

}  // namespace

void start_watchdog() {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mutex);
  if (w.thread.joinable()) return;
  w.stop = false;
  w.thread = std::thread(watch);
}

void stop_watchdog() {
  Watchdog& w = watchdog();
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    w.stop = true;
    w.cv.notify_all();
  }
  if (w.thread.joinable()) w.thread.join();
}

}  // namespace ts::dist::detail
