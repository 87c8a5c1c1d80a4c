#pragma once
/// The distributed runtime: process start-up and shut-down, the world communicator, and the
/// failure handling that turns errors and hangs into a prompt, explained end of the job.
///
///   int train(int argc, char** argv) {          // ordinary code; throw on errors
///     auto world = ts::dist::world();
///     ...
///     return 0;
///   }
///   int main(int argc, char** argv) { return ts::dist::run(train, argc, argv); }
///
/// Launch with `mpirun -np N ./prog`; without mpirun (or in a build without MPI) the program
/// runs as a world of one process with the same API.
///
/// Environment:
///   TESSERA_DIST_TIMEOUT=S   watchdog timeout in seconds for any one collective or message
///                            (default 300; 0 disables). On timeout each rank prints its flight
///                            recorder (its last 16 ops) and the job is aborted.
///   TESSERA_DIST_DEBUG=1     verify before each collective that all ranks call the same op
///                            with the same dtype and shape (one small extra all-gather).
#include <memory>

#include "tessera/dist/communicator.h"

namespace ts::dist {

/// Starts the runtime (MPI_Init_thread when built with MPI and MPI is not yet initialized).
/// Idempotent; argc/argv may be null. Also installs a std::terminate handler, so an uncaught
/// exception on any rank prints "tessera rank R/N failed: uncaught exception: <what>" and
/// aborts the whole job (like run()) instead of leaving the other ranks hanging.
void init(int* argc = nullptr, char*** argv = nullptr);
/// Waits for pending ops, stops the runtime's threads and finalizes MPI if init() started it.
/// Communicators still held stay valid objects but must not be used afterwards.
void finalize();
bool is_initialized();

/// This process's rank in the world and the world's size (0 and 1 before init()).
int rank();
int world_size();
/// The communicator of all processes (init() must have been called).
std::shared_ptr<Communicator> world();

/// Runs `main_fn(argc, argv)` between init() and finalize(). If it throws on any rank, that
/// rank prints "tessera rank R/N failed: <what>" to stderr and aborts the whole job
/// (MPI_Abort), so the other ranks do not hang in their next collective. Returns main_fn's
/// result.
int run(int (*main_fn)(int, char**), int argc, char** argv);

/// Prints "tessera rank R/N failed: <message>" to stderr and ends the whole job with exit code
/// `code` (MPI_Abort; std::_Exit without MPI). For fatal errors outside run().
[[noreturn]] void abort_job(const std::string& message, int code = 1);

/// Watchdog timeout for one collective or message, in seconds (0 disables); overrides
/// TESSERA_DIST_TIMEOUT. Applies to ops started after the call.
void set_timeout(double seconds);
double timeout();
/// Debug mode (see above); overrides TESSERA_DIST_DEBUG.
void set_debug(bool on);
bool debug();

/// The flight recorder: one line per recent op (sequence number, group, op, dtype, shape,
/// state), oldest first. What the watchdog prints on a timeout.
std::string flight_recorder_dump();

}  // namespace ts::dist
