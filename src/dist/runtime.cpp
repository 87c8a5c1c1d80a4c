// Process-level state of ts::dist: init/finalize, the world communicator, settings, and the
// run() wrapper that turns an exception on one rank into the end of the whole job.
#include "tessera/dist/runtime.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "dist/executor.h"
#include "dist/flight_recorder.h"
#include "dist/transport.h"

namespace ts::dist {
namespace {

struct State {
  std::mutex mutex;
  bool initialized = false;
  bool owns_transport = false;
  std::shared_ptr<Communicator> world;
  std::atomic<int> rank{0};
  std::atomic<int> size{1};
  std::atomic<double> timeout_s{300.0};
  std::atomic<bool> debug{false};
};

State& state() {
  static State* s = new State();  // outlives static destructors that may still ask rank()
  return *s;
}

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  TS_CHECK(end && *end == '\0' && d >= 0, "dist::init: {}='{}' is not a number of seconds >= 0", name, v);
  return d;
}

// An exception nobody caught (code not under run(), or one escaping a thread) ends the whole
// job with the same message as run() gives, instead of leaving the other ranks waiting.
[[noreturn]] void on_terminate() {
  std::string what = "std::terminate was called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = fmt::format("uncaught exception: {}", ex.what());
    } catch (...) {
      what = "uncaught exception that is not a std::exception";
    }
  }
  abort_job(what);
}

}  // namespace

void init(int* argc, char*** argv) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.initialized) return;
  s.timeout_s = env_double("TESSERA_DIST_TIMEOUT", s.timeout_s.load());
  if (const char* d = std::getenv("TESSERA_DIST_DEBUG")) s.debug = std::string(d) == "1";
  {
    std::lock_guard<std::mutex> transport(detail::executor().transport_lock());
    s.owns_transport = detail::transport_init(argc, argv);
    s.world = std::make_shared<Communicator>(detail::world_handle(), "world");
  }
  s.rank = s.world->rank();
  s.size = s.world->size();
  s.initialized = true;
  std::set_terminate(on_terminate);
  detail::start_watchdog();
}

void finalize() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.initialized) return;
  detail::executor().shutdown();
  detail::stop_watchdog();
  {
    std::lock_guard<std::mutex> transport(detail::executor().transport_lock());
    detail::free_handle(s.world->handle());
    if (s.owns_transport) detail::transport_finalize();
  }
  s.world.reset();
  s.initialized = false;
}

bool is_initialized() { return state().initialized; }
int rank() { return state().rank; }
int world_size() { return state().size; }

std::shared_ptr<Communicator> world() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  TS_CHECK(s.initialized, "dist::world: the runtime is not initialized; call ts::dist::init(&argc, &argv) first");
  return s.world;
}

void abort_job(const std::string& message, int code) {
  std::string text = fmt::format("tessera rank {}/{} failed: {}\n", rank(), world_size(), message);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  std::fflush(stdout);
  if (is_initialized()) detail::transport_abort(code);
  std::_Exit(code);
}

int run(int (*main_fn)(int, char**), int argc, char** argv) {
  int rc = 0;
  try {
    init(&argc, &argv);
    rc = main_fn(argc, argv);
  } catch (const std::exception& e) {
    abort_job(e.what());
  } catch (...) {
    abort_job("an exception that is not a std::exception");
  }
  try {
    finalize();
  } catch (const std::exception& e) {
    abort_job(e.what());
  }
  return rc;
}

void set_timeout(double seconds) {
  TS_CHECK(seconds >= 0, "dist::set_timeout: expected seconds >= 0 (0 disables the watchdog), got {}", seconds);
  state().timeout_s = seconds;
}
double timeout() { return state().timeout_s; }
void set_debug(bool on) { state().debug = on; }
bool debug() { return state().debug; }

std::string flight_recorder_dump() { return detail::recorder().dump(); }

}  // namespace ts::dist
