#pragma once
// The flight recorder keeps the last ops of this process (sequence number, group, op, dtype,
// shape, state) so that a hang or a mismatch can be diagnosed from every rank's output. The
// watchdog thread aborts the job when an op has been running longer than the timeout,
// printing the recorder first.
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <vector>
#include <mutex>
#include <string>
#include <thread>

#include "tessera/tensor.h"

namespace ts::dist::detail {

enum class OpState { Queued, Posted, Running, Done, Failed };

/// One op. Fixed-size fields only (the group name is short enough for the small-string
/// buffer), so recording costs no allocation or formatting on the hot path; text is made
/// when the recorder is printed.
struct OpRecord {
  static constexpr int kMaxDims = 6;
  uint64_t id = 0;
  std::string group;
  int64_t seq = -1;        ///< the group's collective sequence number; -1 for point-to-point
  const char* op = "";     ///< static text: "all_reduce", "send", ...
  const char* detail = "";  ///< static text: the reduction ("sum"), or empty
  int64_t peer = -1;       ///< broadcast root, send destination, recv source
  int64_t tag = -1;        ///< point-to-point tag
  bool has_tensor = false;
  DType dtype = DType::Float32;
  int ndim = 0;
  std::array<int64_t, kMaxDims> dims{};
  OpState state = OpState::Queued;
  std::chrono::steady_clock::time_point started{};
  double timeout_s = 0;  ///< the watchdog's limit for this op while Running (0: none)

  void set_tensor(const Tensor& t);
  std::string label() const;        ///< "all_reduce(sum)", "send(to 1, tag 0)"
  std::string tensor_text() const;  ///< "float32 [4, 3]" or empty
};

class FlightRecorder {
 public:
  static constexpr size_t kCapacity = 16;
  /// Adds an op (its id is assigned here) and returns the id.
  uint64_t add(OpRecord record);
  /// Moves op `id` to `state`; Running starts the watchdog clock with `timeout_s`.
  void set_state(uint64_t id, OpState state, double timeout_s = 0);
  /// The recorder as text, oldest first.
  std::string dump() const;
  /// Description of an op running past its timeout, or empty.
  std::string overdue(std::chrono::steady_clock::time_point now) const;

 private:
  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  struct Watched {
    uint64_t id;
    std::chrono::steady_clock::time_point started;
    double timeout_s;
  };
  OpRecord* find(uint64_t id);
  const OpRecord* find(uint64_t id) const { return const_cast<FlightRecorder*>(this)->find(id); }
  std::deque<OpRecord> recent_;           ///< the last kCapacity ops
  std::vector<Watched> running_;          ///< ops the watchdog watches
  std::vector<OpRecord> evicted_running_;  ///< running ops pushed out of recent_
};

FlightRecorder& recorder();

/// Starts the watchdog thread (idempotent) / stops it.
void start_watchdog();
void stop_watchdog();

/// Marks an op Running on construction and Done (or Failed, on unwinding) on destruction.
class RunningOp {
 public:
  RunningOp(uint64_t id, double timeout_s) : id_(id), exceptions_(std::uncaught_exceptions()) {
    recorder().set_state(id_, OpState::Running, timeout_s);
  }
  ~RunningOp() {
    recorder().set_state(id_, std::uncaught_exceptions() > exceptions_ ? OpState::Failed : OpState::Done);
  }
  RunningOp(const RunningOp&) = delete;
  RunningOp& operator=(const RunningOp&) = delete;

 private:
  uint64_t id_;
  int exceptions_;
};

}  // namespace ts::dist::detail
