// MPI transport of ts::dist (built when TESSERA_HAVE_MPI). Our communicators use
// MPI_ERRORS_RETURN, so a failing call becomes a ts::Error naming the MPI error instead of
// MPI's default abort without context.
#ifdef TESSERA_HAVE_MPI
#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "dist/transport.h"

namespace ts::dist::detail {

struct CommHandle {
  MPI_Comm comm = MPI_COMM_NULL;
};

// The handle's MPI_Comm was freed (free_handle) by its owner under the transport lock.
void CommHandleDeleter::operator()(CommHandle* h) const { delete h; }

namespace {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<size_t>(len));
}

void check(int rc, const char* what) { TS_CHECK(rc == MPI_SUCCESS, "{}: {}", what, mpi_error_string(rc)); }

int to_int(int64_t n, const char* what) {
  TS_CHECK(n >= 0 && n <= INT_MAX, "{}: {} elements is more than one MPI call can move (at most {})", what, n, INT_MAX);
  return static_cast<int>(n);
}

MPI_Datatype mpi_type(DType t, const char* what) {
  switch (t) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt8:
    case DType::Bool: return MPI_UINT8_T;
    default: break;
  }
  TS_ERROR("{}: the MPI transport cannot reduce {} directly", what, dtype_name(t));
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
    default: return MPI_SUM;
  }
}

bool is_finalized() {
  int done = 0;
  MPI_Finalized(&done);
  return done != 0;
}

CommHandlePtr own(MPI_Comm comm) {
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  CommHandlePtr h(new CommHandle());
  h->comm = comm;
  return h;
}

class MpiRequest final : public Request {
 public:
  MpiRequest(MPI_Request req, int64_t expected_bytes, bool is_recv)
      : req_(req), expected_(expected_bytes), is_recv_(is_recv) {}
  ~MpiRequest() override {
    // A request dropped before completion (its Work abandoned after an error) must not stay
    // pending inside MPI pointing at freed memory.
    if (req_ != MPI_REQUEST_NULL && !is_finalized()) {
      MPI_Cancel(&req_);
      MPI_Request_free(&req_);
    }
  }
  bool test() override {
    if (req_ == MPI_REQUEST_NULL) return true;
    int flag = 0;
    MPI_Status status;
    check(MPI_Test(&req_, &flag, &status), is_recv_ ? "recv" : "send");
    if (!flag) return false;
    if (is_recv_) {
      int count = 0;
      MPI_Get_count(&status, MPI_BYTE, &count);
      TS_CHECK(count == expected_,
               "recv: received {} bytes from rank {} (tag {}) but the destination tensor holds {} bytes; the sender's "
               "tensor must have the same number of elements and dtype",
               count, status.MPI_SOURCE, status.MPI_TAG, expected_);
    }
    return true;
  }

 private:
  MPI_Request req_;
  int64_t expected_;
  bool is_recv_;
};

}  // namespace

bool transport_init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return false;
  int provided = 0;
  // SERIALIZED: the caller's thread and the executor's worker both call MPI, never at once.
  check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "dist::init");
  TS_CHECK(provided >= MPI_THREAD_SERIALIZED,
           "dist::init: the MPI library provides thread level {} but ts::dist needs MPI_THREAD_SERIALIZED ({})",
           provided, MPI_THREAD_SERIALIZED);
  return true;
}

void transport_finalize() {
  if (!is_finalized()) MPI_Finalize();
}

void transport_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this is for the compiler and broken MPIs
}

CommHandlePtr world_handle() {
  MPI_Comm comm;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "dist::init");
  return own(comm);
}

int handle_rank(const CommHandle& h) {
  int r = 0;
  MPI_Comm_rank(h.comm, &r);
  return r;
}

int handle_size(const CommHandle& h) {
  int s = 1;
  MPI_Comm_size(h.comm, &s);
  return s;
}

CommHandlePtr split_handle(CommHandle& h, int color, int key) {
  MPI_Comm comm;
  check(MPI_Comm_split(h.comm, color < 0 ? MPI_UNDEFINED : color, key, &comm), "split");
  if (comm == MPI_COMM_NULL) return nullptr;
  return own(comm);
}

void free_handle(CommHandle& h) {
  if (h.comm != MPI_COMM_NULL && !is_finalized()) MPI_Comm_free(&h.comm);
  h.comm = MPI_COMM_NULL;
}

void all_reduce(CommHandle& h, void* buf, int64_t count, DType dtype, ReduceOp op) {
  check(MPI_Allreduce(MPI_IN_PLACE, buf, to_int(count, "all_reduce"), mpi_type(dtype, "all_reduce"), mpi_op(op),
                      h.comm),
        "all_reduce");
}

void broadcast(CommHandle& h, void* buf, int64_t bytes, int root) {
  check(MPI_Bcast(buf, to_int(bytes, "broadcast"), MPI_BYTE, root, h.comm), "broadcast");
}

void all_gather(CommHandle& h, const void* in, void* out, int64_t bytes_per_rank) {
  const int n = to_int(bytes_per_rank, "all_gather");
  check(MPI_Allgather(in, n, MPI_BYTE, out, n, MPI_BYTE, h.comm), "all_gather");
}

void reduce_scatter(CommHandle& h, const void* in, void* out, int64_t count_per_rank, DType dtype, ReduceOp op) {
  check(MPI_Reduce_scatter_block(in, out, to_int(count_per_rank, "reduce_scatter"), mpi_type(dtype, "reduce_scatter"),
                                 mpi_op(op), h.comm),
        "reduce_scatter");
}

void barrier(CommHandle& h) { check(MPI_Barrier(h.comm), "barrier"); }

void all_gather_i64(CommHandle& h, const int64_t* mine, int64_t* all, int n) {
  check(MPI_Allgather(mine, n, MPI_INT64_T, all, n, MPI_INT64_T, h.comm), "debug descriptor exchange");
}

std::unique_ptr<Request> isend(CommHandle& h, const void* buf, int64_t bytes, int dst, int tag) {
  MPI_Request req;
  check(MPI_Isend(buf, to_int(bytes, "send"), MPI_BYTE, dst, tag, h.comm, &req), "send");
  return std::make_unique<MpiRequest>(req, bytes, false);
}

std::unique_ptr<Request> irecv(CommHandle& h, void* buf, int64_t bytes, int src, int tag) {
  MPI_Request req;
  check(MPI_Irecv(buf, to_int(bytes, "recv"), MPI_BYTE, src, tag, h.comm, &req), "recv");
  return std::make_unique<MpiRequest>(req, bytes, true);
}

}  // namespace ts::dist::detail
#endif  // TESSERA_HAVE_MPI
