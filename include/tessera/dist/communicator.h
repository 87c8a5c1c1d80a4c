#pragma once
/// ts::dist::Communicator: collectives and point-to-point messages on CPU tensors among the
/// ranks of one group (the world, or a group made by split()). This is the interface every
/// distributed feature builds on (DDP, and tensor/pipeline parallel and ZeRO later).
///
/// Rules (the usual MPI ones, checked where it is cheap):
///  * Every rank of the group calls the same collectives in the same order, with tensors of
///    the same dtype and shape (all_gather/reduce_scatter: see each op). In debug mode
///    (set_debug / TESSERA_DIST_DEBUG=1) a small descriptor is exchanged before each collective
///    and a mismatch raises a ts::Error on every rank instead of hanging or corrupting data.
///  * Ops are issued from one thread at a time. Blocking and non-blocking collectives of all
///    communicators run in the order they were issued in this process; a blocking op first
///    waits for the non-blocking ones issued before it.
///  * Tensors may be non-contiguous (the op copies in and out) and of any dtype; Sum/Avg/Max/Min
///    of float16/bfloat16 are computed in float32. Avg needs a floating-point tensor.
///  * Results are written into the tensors' memory directly, bypassing autograd (like PyTorch's
///    c10d ops): use them on parameters, gradients and buffers, not inside a differentiable
///    computation.
///  * A non-blocking op owns references to its tensors until it completes; do not read or
///    write them before wait() returns.
/// Misuse (wrong output shape, a root or peer out of range, ...) is a ts::Error naming the op,
/// shapes, dtypes and ranks.
#include <cstdint>
#include <memory>
#include <string>

#include "tessera/tensor.h"

namespace ts::dist {

enum class ReduceOp { Sum, Avg, Max, Min };
std::string_view reduce_op_name(ReduceOp op);

/// The handle of a non-blocking op.
class Work {
 public:
  virtual ~Work() = default;
  /// True once the op finished (successfully or not); never blocks.
  virtual bool is_completed() = 0;
  /// Blocks until the op finished; re-throws its error (a ts::Error) if it failed.
  virtual void wait() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

/// Implementation details shared by the transport (MPI or the single-process stand-in).
namespace detail {
struct CommHandle;
/// Frees a transport handle (defined by the transport, where CommHandle is complete).
struct CommHandleDeleter {
  void operator()(CommHandle* h) const;
};
using CommHandlePtr = std::unique_ptr<CommHandle, CommHandleDeleter>;
}  // namespace detail

class Communicator : public std::enable_shared_from_this<Communicator> {
 public:
  /// Wraps a transport handle; use ts::dist::world() or split() to get communicators.
  Communicator(detail::CommHandlePtr handle, std::string name);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// The name shown in errors and the flight recorder ("world", "dp", "tp(color 1)", ...).
  const std::string& name() const { return name_; }

  // ---- blocking collectives -------------------------------------------------------------
  /// tensor = op over every rank's tensor (same shape and dtype on all ranks).
  void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
  /// tensor = root's tensor on every rank.
  void broadcast(Tensor& tensor, int root = 0);
  /// out = cat(in of rank 0, in of rank 1, ...) along dim 0. `in` has the same shape on every
  /// rank; `out` has in's shape with dim 0 multiplied by size() (a 0-dim `in` gives out [size]).
  void all_gather(const Tensor& in, Tensor& out);
  /// out = rank r's block of op over every rank's `in`, where `in`'s dim 0 is split into
  /// size() equal blocks (it must be divisible); out has in's shape with dim 0 divided.
  void reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op = ReduceOp::Sum);
  /// Waits until every rank of the group reached it.
  void barrier();

  // ---- point to point ---------------------------------------------------------------------
  /// Sends `tensor` to rank `dst` of this group; the receiver posts recv with a tensor of the
  /// same number of elements and dtype (the shape may differ) and the same tag.
  void send(const Tensor& tensor, int dst, int tag = 0);
  void recv(Tensor& tensor, int src, int tag = 0);

  // ---- non-blocking variants --------------------------------------------------------------
  WorkPtr all_reduce_async(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
  WorkPtr broadcast_async(Tensor& tensor, int root = 0);
  WorkPtr send_async(const Tensor& tensor, int dst, int tag = 0);
  WorkPtr recv_async(Tensor& tensor, int src, int tag = 0);

  // ---- groups -------------------------------------------------------------------------------
  /// Collective over this group: ranks passing the same `color` form a new group, ordered by
  /// (key, rank here). A negative color returns nullptr (the rank joins no group). `name`
  /// labels the new group in errors (default: "<this name>.split(<color>)").
  std::shared_ptr<Communicator> split(int color, int key, std::string name = {});

  /// Transport handle (MPI_Comm inside the library); for code in src/dist only.
  detail::CommHandle& handle() const { return *handle_; }

 private:
  detail::CommHandlePtr handle_;
  std::string name_;
  int rank_ = 0;
  int size_ = 1;
  uint64_t next_seq_ = 0;  ///< sequence number of the next collective (flight recorder, debug)
  friend struct CommunicatorAccess;
};

}  // namespace ts::dist
