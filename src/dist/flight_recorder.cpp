#include "dist/flight_recorder.h"

#include <atomic>
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
  std::string s = fmt::format("  {:>5} {:<10} {:<28} {:<24} {}", seq, r.group, r.op, r.tensor, state_name(r.state));
  if (r.state == OpState::Running) {
    s += fmt::format(" for {:.1f} s", std::chrono::duration<double>(now - r.started).count());
  }
  return s;
}

}  // namespace

uint64_t FlightRecorder::add(std::string group, int64_t seq, std::string op, std::string tensor, OpState state) {
  std::lock_guard<std::mutex> lock(mutex_);
  OpRecord r;
  r.id = next_id_++;
  r.group = std::move(group);
  r.seq = seq;
  r.op = std::move(op);
  r.tensor = std::move(tensor);
  r.state = state;
  recent_.push_back(r);
  if (recent_.size() > kCapacity) recent_.pop_front();
  return r.id;
}

void FlightRecorder::set_state(uint64_t id, OpState state, double timeout_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  OpRecord* found = nullptr;
  for (auto& r : recent_)
    if (r.id == id) found = &r;
  if (found) {
    found->state = state;
    if (state == OpState::Running) {
      found->started = now;
      found->timeout_s = timeout_s;
    }
  }
  if (state == OpState::Running) {
    OpRecord r = found ? *found : OpRecord{};
    r.id = id;
    r.state = state;
    r.started = now;
    r.timeout_s = timeout_s;
    running_[id] = std::move(r);
  } else {
    running_.erase(id);
  }
}

std::string FlightRecorder::dump() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::string out = fmt::format("  {:>5} {:<10} {:<28} {:<24} {}\n", "seq", "group", "op", "tensor", "state");
  // Watched ops that fell out of the ring are still worth showing first.
  for (const auto& [id, r] : running_)
    if (recent_.empty() || id < recent_.front().id) out += line(r, now) + "\n";
  for (const auto& r : recent_) out += line(r, now) + "\n";
  return out;
}

std::string FlightRecorder::overdue(std::chrono::steady_clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, r] : running_) {
    const double age = std::chrono::duration<double>(now - r.started).count();
    if (r.timeout_s > 0 && age > r.timeout_s)
      return fmt::format("{} on group {} (sequence {}) has not completed after {:.1f} s (timeout {} s)", r.op, r.group,
                         r.seq, age, r.timeout_s);
  }
  return {};
}

FlightRecorder& recorder() {
  static FlightRecorder* instance = new FlightRecorder();  // outlives static destructors
  return *instance;
}

std::string describe_tensor(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape()));
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
