#pragma once
// The transport under ts::dist::Communicator: raw operations on contiguous host buffers.
// transport_mpi.cpp implements them with MPI; transport_local.cpp (built without MPI) is a
// world of one process. The caller holds the executor's transport lock around every call
// (MPI is initialized with MPI_THREAD_SERIALIZED), validates arguments and stages tensors;
// functions here only raise ts::Error for failures the transport reports.
#include <cstdint>
#include <memory>

#include "tessera/dist/communicator.h"

namespace ts::dist::detail {

/// Starts the transport; returns true if this call initialized it (and finalize must end it).
bool transport_init(int* argc, char*** argv);
void transport_finalize();
/// Ends every process of the job (MPI_Abort); callable from any thread without the lock.
[[noreturn]] void transport_abort(int code);

/// A private duplicate of the world (so user MPI traffic never matches ours).
CommHandlePtr world_handle();
int handle_rank(const CommHandle& h);
int handle_size(const CommHandle& h);
/// Null when color < 0.
CommHandlePtr split_handle(CommHandle& h, int color, int key);
/// Releases the handle's resources (no-op after the transport was finalized).
void free_handle(CommHandle& h);

/// Reductions take Sum, Max or Min (Avg is Sum plus a division done by the caller) on
/// float32/float64/int32/int64/uint8/bool buffers.
void all_reduce(CommHandle& h, void* buf, int64_t count, DType dtype, ReduceOp op);
void broadcast(CommHandle& h, void* buf, int64_t bytes, int root);
void all_gather(CommHandle& h, const void* in, void* out, int64_t bytes_per_rank);
void reduce_scatter(CommHandle& h, const void* in, void* out, int64_t count_per_rank, DType dtype, ReduceOp op);
void barrier(CommHandle& h);
/// Gathers `n` int64 from every rank into `all` (rank-major): debug-mode descriptors.
void all_gather_i64(CommHandle& h, const int64_t* mine, int64_t* all, int n);

/// A posted point-to-point message.
class Request {
 public:
  virtual ~Request() = default;
  /// True when complete; raises ts::Error if the transport reports a failure.
  virtual bool test() = 0;
};
std::unique_ptr<Request> isend(CommHandle& h, const void* buf, int64_t bytes, int dst, int tag);
std::unique_ptr<Request> irecv(CommHandle& h, void* buf, int64_t bytes, int src, int tag);

}  // namespace ts::dist::detail
