// Transport of a build without MPI: a world of one process. Collectives are identities (or
// copies); there is no peer to send to.
#ifndef TESSERA_HAVE_MPI
#include <cstdlib>
#include <cstring>

#include "dist/transport.h"

namespace ts::dist::detail {

struct CommHandle {};
void CommHandleDeleter::operator()(CommHandle* h) const { delete h; }

bool transport_init(int*, char***) { return true; }
void transport_finalize() {}
void transport_abort(int code) { std::_Exit(code); }
CommHandlePtr world_handle() { return CommHandlePtr(new CommHandle()); }
int handle_rank(const CommHandle&) { return 0; }
int handle_size(const CommHandle&) { return 1; }
CommHandlePtr split_handle(CommHandle&, int color, int) {
  return color < 0 ? nullptr : CommHandlePtr(new CommHandle());
}
void free_handle(CommHandle&) {}
void all_reduce(CommHandle&, void*, int64_t, DType, ReduceOp) {}
void broadcast(CommHandle&, void*, int64_t, int) {}
void all_gather(CommHandle&, const void* in, void* out, int64_t bytes) {
  if (bytes > 0 && in != out) std::memmove(out, in, static_cast<size_t>(bytes));
}
void reduce_scatter(CommHandle&, const void* in, void* out, int64_t count, DType dtype, ReduceOp) {
  const int64_t bytes = count * static_cast<int64_t>(element_size(dtype));
  if (bytes > 0 && in != out) std::memmove(out, in, static_cast<size_t>(bytes));
}
void barrier(CommHandle&) {}
void all_gather_i64(CommHandle&, const int64_t* mine, int64_t* all, int n) {
  std::memcpy(all, mine, sizeof(int64_t) * static_cast<size_t>(n));
}
std::unique_ptr<Request> isend(CommHandle&, const void*, int64_t, int, int) {
  TS_ERROR("send: Tessera was built without MPI, so a process has no peer to send to");
}
std::unique_ptr<Request> irecv(CommHandle&, void*, int64_t, int, int) {
  TS_ERROR("recv: Tessera was built without MPI, so a process has no peer to receive from");
}

}  // namespace ts::dist::detail
#endif  // !TESSERA_HAVE_MPI
