// Communicator: argument checks, staging of tensors into contiguous transport buffers,
// sequence numbers, the flight recorder and debug-mode verification around the transport's
// raw operations; blocking ops run here, non-blocking ones on the executor's worker.
#include "tessera/dist/communicator.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "dist/executor.h"
#include "dist/flight_recorder.h"
#include "dist/transport.h"
#include "tessera/autograd.h"
#include "tessera/backend.h"
#include "tessera/dist/runtime.h"

namespace ts::dist {

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "?";
}

struct CommunicatorAccess {
  static uint64_t next_seq(Communicator& c) { return c.next_seq_++; }
};

using namespace detail;

namespace {

enum class OpKind : int64_t { AllReduce = 1, Broadcast, AllGather, ReduceScatter, Barrier, Split };

const char* kind_name(OpKind k) {
  switch (k) {
    case OpKind::AllReduce: return "all_reduce";
    case OpKind::Broadcast: return "broadcast";
    case OpKind::AllGather: return "all_gather";
    case OpKind::ReduceScatter: return "reduce_scatter";
    case OpKind::Barrier: return "barrier";
    case OpKind::Split: return "split";
  }
  return "?";
}

// What the recorder and error messages call the op: "all_reduce(sum)", "broadcast(root 1)".
std::string op_label(OpKind kind, int64_t arg) {
  switch (kind) {
    case OpKind::AllReduce:
    case OpKind::ReduceScatter: return fmt::format("{}({})", kind_name(kind), reduce_op_name(static_cast<ReduceOp>(arg)));
    case OpKind::Broadcast: return fmt::format("broadcast(root {})", arg);
    default: return kind_name(kind);
  }
}

// ---- debug mode: every rank's descriptor of the collective it is about to run --------------
constexpr int kDescLen = 16;
constexpr int kMaxDims = 8;
using Descriptor = std::array<int64_t, kDescLen>;

Descriptor make_descriptor(uint64_t seq, OpKind kind, int64_t arg, const Tensor& t) {
  Descriptor d{};
  d[0] = static_cast<int64_t>(seq);
  d[1] = static_cast<int64_t>(kind);
  d[2] = arg;
  d[3] = t.defined() ? static_cast<int64_t>(t.dtype()) : -1;
  d[4] = t.defined() ? t.dim() : -1;
  if (t.defined()) {
    uint64_t hash = 1469598103934665603ull;  // FNV-1a over the dims past kMaxDims
    for (int64_t i = 0; i < t.dim(); ++i) {
      if (i < kMaxDims) d[5 + i] = t.size(i);
      else hash = (hash ^ static_cast<uint64_t>(t.size(i))) * 1099511628211ull;
    }
    d[13] = static_cast<int64_t>(hash);
    d[14] = t.numel();
  }
  return d;
}

std::string describe_descriptor(const int64_t* d) {
  std::string s = fmt::format("#{} {}", d[0], op_label(static_cast<OpKind>(d[1]), d[2]));
  if (d[3] < 0) return s;
  std::vector<int64_t> dims(d + 5, d + 5 + std::min<int64_t>(d[4], kMaxDims));
  return fmt::format("{} on {} [{}{}]", s, dtype_name(static_cast<DType>(d[3])), fmt::join(dims, ", "),
                     d[4] > kMaxDims ? ", ..." : "");
}

void verify_descriptors(Communicator& c, const Descriptor& mine) {
  std::vector<int64_t> all(static_cast<size_t>(kDescLen) * static_cast<size_t>(c.size()));
  all_gather_i64(c.handle(), mine.data(), all.data(), kDescLen);
  for (int r = 1; r < c.size(); ++r) {
    const int64_t* other = all.data() + static_cast<size_t>(r) * kDescLen;
    if (!std::equal(all.data(), all.data() + kDescLen, other))
      TS_ERROR(
          "{}: collective mismatch (debug mode): rank 0 calls {} but rank {} calls {}; every rank of a group must call "
          "the same collectives in the same order with the same dtype and shape",
          c.name(), describe_descriptor(all.data()), r, describe_descriptor(other));
  }
}

// ---- staging ----------------------------------------------------------------------------------
bool reduced_in_f32(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// A contiguous buffer holding `t` in the dtype the transport handles (float32 for 16-bit
// floats when `reduce`): `t` itself when it already is one.
Tensor stage_in(const Tensor& t, bool reduce) {
  if (reduce && reduced_in_f32(t.dtype())) return t.to(DType::Float32).contiguous();
  return t.is_contiguous() ? t : t.contiguous();
}

// A contiguous buffer to receive `t`'s new contents (its old contents are not copied).
Tensor stage_out(const Tensor& t, bool reduce) {
  if (reduce && reduced_in_f32(t.dtype())) return make_tensor(t.shape(), DType::Float32, t.device());
  return t.is_contiguous() ? t : make_tensor(t.shape(), t.dtype(), t.device());
}

// Writes `staged` back into `t` (converting dtype) unless it is `t`; bumps t's version either
// way, since its memory changed behind autograd's back.
void unstage(const Tensor& staged, const Tensor& t) {
  if (!staged.is_same(t)) backend_for(t).copy(staged, t);
  t.storage()->bump_version();
}

void divide(Tensor& buf, int n) {
  if (buf.dtype() == DType::Float32) {
    float* p = static_cast<float*>(buf.raw_data());
    const float inv = 1.0f / static_cast<float>(n);
    for (int64_t i = 0, e = buf.numel(); i < e; ++i) p[i] *= inv;
  } else {
    double* p = static_cast<double*>(buf.raw_data());
    for (int64_t i = 0, e = buf.numel(); i < e; ++i) p[i] /= n;
  }
}

void check_tensor(const Communicator& c, const char* op, const Tensor& t, const char* what) {
  TS_CHECK(t.defined(), "{}: {}: {} is undefined", c.name(), op, what);
  TS_CHECK(t.is_cpu(), "{}: {}: {} is on {}; the MPI communicator takes CPU tensors", c.name(), op, what,
           t.device().str());
}

void check_reduce(const Communicator& c, const char* op, const Tensor& t, ReduceOp rop) {
  TS_CHECK(rop != ReduceOp::Avg || t.is_floating_point(),
           "{}: {}: ReduceOp::Avg needs a floating-point tensor, got {} {}", c.name(), op, dtype_name(t.dtype()),
           shape_str(t.shape()));
  TS_CHECK(t.dtype() != DType::Bool || rop == ReduceOp::Max || rop == ReduceOp::Min,
           "{}: {}: a bool tensor can only be reduced with Max (or) or Min (and), not {}", c.name(), op,
           reduce_op_name(rop));
}

void check_rank(const Communicator& c, const char* op, const char* what, int r) {
  TS_CHECK(r >= 0 && r < c.size(), "{}: {}: {} {} is out of range for a group of {} ranks (rank here: {})", c.name(),
           op, what, r, c.size(), c.rank());
}

// ---- running ops ------------------------------------------------------------------------------
OpRecord make_record(const Communicator& c, int64_t seq, OpKind kind, int64_t arg, const Tensor& described) {
  OpRecord r;
  r.group = c.name();
  r.seq = seq;
  r.op = kind_name(kind);
  if (kind == OpKind::AllReduce || kind == OpKind::ReduceScatter)
    r.detail = reduce_op_name(static_cast<ReduceOp>(arg)).data();  // static strings
  if (kind == OpKind::Broadcast) r.peer = arg;
  r.set_tensor(described);
  return r;
}

// Registers collective number `seq` of `c` with the recorder and returns the closure that runs
// it (taking the transport lock): debug verification, then `body(handle)`. Recording stores
// fixed-size fields only, so a small all-reduce pays little over a raw MPI call.
template <typename Body>
auto collective(Communicator& c, OpKind kind, int64_t arg, const Tensor& described, Body body) {
  const uint64_t seq = CommunicatorAccess::next_seq(c);
  const bool verify = debug() && c.size() > 1;
  const double limit = timeout();
  const uint64_t id = recorder().add(make_record(c, static_cast<int64_t>(seq), kind, arg, described));
  Descriptor desc{};
  if (verify) desc = make_descriptor(seq, kind, arg, described);
  return [self = c.shared_from_this(), id, verify, limit, desc, body = std::move(body)] {
    NoGradGuard no_grad;
    std::lock_guard<std::mutex> lock(executor().transport_lock());
    RunningOp running(id, limit);
    if (verify) verify_descriptors(*self, desc);
    body(self->handle());
  };
}

template <typename Fn> void run_blocking(const Fn& fn) {
  executor().drain();  // earlier non-blocking collectives go first, in issue order
  fn();
}

class TaskWork final : public Work {
 public:
  bool is_completed() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
    if (error_) std::rethrow_exception(error_);
  }
  void finish(std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::move(error);
    done_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

WorkPtr run_async(std::function<void()> fn) {
  auto work = std::make_shared<TaskWork>();
  executor().submit([fn = std::move(fn), work] {
    try {
      fn();
      work->finish(nullptr);
    } catch (...) {
      work->finish(std::current_exception());
    }
  });
  return work;
}

// A posted send or receive. MPI only moves the data while some MPI call runs, so is_completed
// and wait poll the request (taking the transport lock only for each test, so the worker can
// run collectives in between).
class P2PWork final : public Work {
 public:
  P2PWork(std::shared_ptr<Communicator> comm, std::unique_ptr<Request> req, Tensor staged, Tensor target, uint64_t id)
      : comm_(std::move(comm)), req_(std::move(req)), staged_(std::move(staged)), target_(std::move(target)), id_(id) {}
  ~P2PWork() override {
    std::lock_guard<std::mutex> lock(executor().transport_lock());
    req_.reset();
  }
  bool is_completed() override {
    if (!done_) {
      try {
        if (poll()) complete();
      } catch (...) {
        fail(std::current_exception());
      }
    }
    return done_;
  }
  void wait() override {
    if (!done_) {
      recorder().set_state(id_, OpState::Running, timeout());
      try {
        while (!poll()) std::this_thread::yield();
        complete();
      } catch (...) {
        fail(std::current_exception());
      }
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  bool poll() {
    std::lock_guard<std::mutex> lock(executor().transport_lock());
    return req_->test();
  }
  void complete() {
    if (target_.defined()) unstage(staged_, target_);  // a receive into a non-contiguous tensor
    staged_ = Tensor();
    target_ = Tensor();
    done_ = true;
    recorder().set_state(id_, OpState::Done);
  }
  void fail(std::exception_ptr e) {
    error_ = std::move(e);
    done_ = true;
    recorder().set_state(id_, OpState::Failed);
  }

  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<Request> req_;
  Tensor staged_, target_;
  uint64_t id_;
  bool done_ = false;
  std::exception_ptr error_;
};

OpRecord p2p_record(const Communicator& c, const char* op, const Tensor& t, int peer, int tag) {
  OpRecord r;
  r.group = c.name();
  r.op = op;
  r.peer = peer;
  r.tag = tag;
  r.state = OpState::Posted;
  r.set_tensor(t);
  return r;
}

}  // namespace

Communicator::Communicator(detail::CommHandlePtr handle, std::string name)
    : handle_(std::move(handle)), name_(std::move(name)) {
  // The caller holds the transport lock (init() and split()).
  rank_ = handle_rank(*handle_);
  size_ = handle_size(*handle_);
}

Communicator::~Communicator() {
  std::lock_guard<std::mutex> lock(executor().transport_lock());
  free_handle(*handle_);
}

// ---- collectives ----------------------------------------------------------------------------
namespace {

auto all_reduce_body(Tensor t, ReduceOp op, int size) {
  return [t, op, size](CommHandle& h) {
    Tensor buf = stage_in(t, true);
    all_reduce(h, buf.raw_data(), buf.numel(), buf.dtype(), op == ReduceOp::Avg ? ReduceOp::Sum : op);
    if (op == ReduceOp::Avg) divide(buf, size);
    unstage(buf, t);
  };
}

auto broadcast_body(Tensor t, int root, int rank) {
  return [t, root, rank](CommHandle& h) {
    Tensor buf = stage_in(t, false);
    broadcast(h, buf.raw_data(), static_cast<int64_t>(buf.nbytes()), root);
    if (rank != root) unstage(buf, t);
  };
}

}  // namespace

void Communicator::all_reduce(Tensor& tensor, ReduceOp op) {
  check_tensor(*this, "all_reduce", tensor, "the tensor");
  check_reduce(*this, "all_reduce", tensor, op);
  run_blocking(collective(*this, OpKind::AllReduce, static_cast<int64_t>(op), tensor, all_reduce_body(tensor, op, size_)));
}

WorkPtr Communicator::all_reduce_async(Tensor& tensor, ReduceOp op) {
  check_tensor(*this, "all_reduce_async", tensor, "the tensor");
  check_reduce(*this, "all_reduce_async", tensor, op);
  return run_async(collective(*this, OpKind::AllReduce, static_cast<int64_t>(op), tensor, all_reduce_body(tensor, op, size_)));
}

void Communicator::broadcast(Tensor& tensor, int root) {
  check_tensor(*this, "broadcast", tensor, "the tensor");
  check_rank(*this, "broadcast", "root", root);
  run_blocking(collective(*this, OpKind::Broadcast, root, tensor, broadcast_body(tensor, root, rank_)));
}

WorkPtr Communicator::broadcast_async(Tensor& tensor, int root) {
  check_tensor(*this, "broadcast_async", tensor, "the tensor");
  check_rank(*this, "broadcast_async", "root", root);
  return run_async(collective(*this, OpKind::Broadcast, root, tensor, broadcast_body(tensor, root, rank_)));
}

void Communicator::all_gather(const Tensor& in, Tensor& out) {
  check_tensor(*this, "all_gather", in, "in");
  check_tensor(*this, "all_gather", out, "out");
  Shape expected = in.dim() == 0 ? Shape{size_} : in.shape();
  if (in.dim() > 0) expected[0] *= size_;
  TS_CHECK(out.dtype() == in.dtype(), "{}: all_gather: out is {} but in is {}", name_, dtype_name(out.dtype()),
           dtype_name(in.dtype()));
  TS_CHECK(out.shape() == expected,
           "{}: all_gather: out has shape {} but gathering in of shape {} from {} ranks along dim 0 needs shape {}",
           name_, shape_str(out.shape()), shape_str(in.shape()), size_, shape_str(expected));
  run_blocking(collective(*this, OpKind::AllGather, 0, in, [in, out](CommHandle& h) {
    Tensor dst = stage_out(out, false);
    Tensor src = stage_in(in, false);
    if (src.storage() == dst.storage()) src = src.clone();  // in is a slice of out: MPI needs disjoint buffers
    detail::all_gather(h, src.raw_data(), dst.raw_data(), static_cast<int64_t>(src.nbytes()));
    unstage(dst, out);
  }));
}

void Communicator::reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) {
  check_tensor(*this, "reduce_scatter", in, "in");
  check_tensor(*this, "reduce_scatter", out, "out");
  check_reduce(*this, "reduce_scatter", in, op);
  TS_CHECK(in.dim() >= 1 && in.size(0) % size_ == 0,
           "{}: reduce_scatter: in of shape {} must have a dim 0 divisible by the group size {}", name_,
           shape_str(in.shape()), size_);
  Shape expected = in.shape();
  expected[0] /= size_;
  TS_CHECK(out.dtype() == in.dtype(), "{}: reduce_scatter: out is {} but in is {}", name_, dtype_name(out.dtype()),
           dtype_name(in.dtype()));
  TS_CHECK(out.shape() == expected,
           "{}: reduce_scatter: out has shape {} but scattering in of shape {} over {} ranks along dim 0 needs shape {}",
           name_, shape_str(out.shape()), shape_str(in.shape()), size_, shape_str(expected));
  const int n = size_;
  run_blocking(collective(*this, OpKind::ReduceScatter, static_cast<int64_t>(op), in, [in, out, op, n](CommHandle& h) {
    Tensor src = stage_in(in, true);
    Tensor dst = stage_out(out, true);
    if (src.storage() == dst.storage()) src = src.clone();
    detail::reduce_scatter(h, src.raw_data(), dst.raw_data(), dst.numel(), dst.dtype(),
                           op == ReduceOp::Avg ? ReduceOp::Sum : op);
    if (op == ReduceOp::Avg) divide(dst, n);
    unstage(dst, out);
  }));
}

void Communicator::barrier() {
  run_blocking(collective(*this, OpKind::Barrier, 0, Tensor(), [](CommHandle& h) { detail::barrier(h); }));
}

std::shared_ptr<Communicator> Communicator::split(int color, int key, std::string name) {
  if (name.empty()) name = fmt::format("{}.split({})", name_, color);
  std::shared_ptr<Communicator> result;
  run_blocking(collective(*this, OpKind::Split, 0, Tensor(), [&](CommHandle& h) {
    auto handle = split_handle(h, color, key);
    if (handle) result = std::make_shared<Communicator>(std::move(handle), name);
  }));
  return result;
}

// ---- point to point -------------------------------------------------------------------------
WorkPtr Communicator::send_async(const Tensor& tensor, int dst, int tag) {
  check_tensor(*this, "send", tensor, "the tensor");
  check_rank(*this, "send", "destination", dst);
  TS_CHECK(tag >= 0, "{}: send: tag {} must be >= 0", name_, tag);
  Tensor buf = tensor.is_contiguous() ? tensor : tensor.contiguous();
  const uint64_t id = recorder().add(p2p_record(*this, "send", tensor, dst, tag));
  std::unique_ptr<Request> req;
  {
    std::lock_guard<std::mutex> lock(executor().transport_lock());
    req = isend(*handle_, buf.raw_data(), static_cast<int64_t>(buf.nbytes()), dst, tag);
  }
  return std::make_shared<P2PWork>(shared_from_this(), std::move(req), buf, Tensor(), id);
}

WorkPtr Communicator::recv_async(Tensor& tensor, int src, int tag) {
  check_tensor(*this, "recv", tensor, "the tensor");
  check_rank(*this, "recv", "source", src);
  TS_CHECK(tag >= 0, "{}: recv: tag {} must be >= 0", name_, tag);
  Tensor buf = stage_out(tensor, false);
  const uint64_t id = recorder().add(p2p_record(*this, "recv", tensor, src, tag));
  std::unique_ptr<Request> req;
  {
    std::lock_guard<std::mutex> lock(executor().transport_lock());
    req = irecv(*handle_, buf.raw_data(), static_cast<int64_t>(buf.nbytes()), src, tag);
  }
  return std::make_shared<P2PWork>(shared_from_this(), std::move(req), buf, tensor, id);
}

void Communicator::send(const Tensor& tensor, int dst, int tag) { send_async(tensor, dst, tag)->wait(); }
void Communicator::recv(Tensor& tensor, int src, int tag) { recv_async(tensor, src, tag)->wait(); }

}  // namespace ts::dist
