#include "atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tessera/error.h"

namespace ts::io {
namespace {

std::atomic<int64_t> g_fault_after{-1};

}  // namespace

void set_write_fault(int64_t after_bytes) { g_fault_after.store(after_bytes); }

AtomicFile::AtomicFile(std::string path, std::string op)
    : path_(std::move(path)), temp_(fmt::format("{}.tmp.{}", path_, ::getpid())), op_(std::move(op)) {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TS_CHECK(fd_ >= 0, "{}: cannot create '{}' (the temporary file for '{}'): {}", op_, temp_, path_,
           std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  TS_CHECK(fd_ >= 0 && !committed_, "{}: '{}': write after commit", op_, path_);
  const int64_t fault = g_fault_after.load();
  size_t allowed = n;
  const bool inject = fault >= 0 && written_ + n > static_cast<uint64_t>(fault);
  if (inject) allowed = static_cast<size_t>(static_cast<uint64_t>(fault) - written_);
  const auto* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < allowed) {
    const ssize_t got = ::write(fd_, p + done, allowed - done);
    if (got < 0 && errno == EINTR) continue;
    TS_CHECK(got > 0, "{}: error writing '{}' (for '{}') after {} bytes: {}", op_, temp_, path_, written_ + done,
             got < 0 ? std::strerror(errno) : "no progress");
    done += static_cast<size_t>(got);
  }
  written_ += done;
  if (inject) {
    g_fault_after.store(-1);
    TS_ERROR("{}: '{}': injected write failure after {} bytes (test hook)", op_, path_, written_);
  }
}

void AtomicFile::commit() {
  TS_CHECK(fd_ >= 0 && !committed_, "{}: '{}': commit twice", op_, path_);
  TS_CHECK(::fsync(fd_) == 0, "{}: cannot flush '{}' to disk: {}", op_, temp_, std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  TS_CHECK(::close(fd) == 0, "{}: error closing '{}': {}", op_, temp_, std::strerror(errno));
  TS_CHECK(::rename(temp_.c_str(), path_.c_str()) == 0, "{}: cannot rename '{}' to '{}': {}", op_, temp_, path_,
           std::strerror(errno));
  committed_ = true;
  // The rename is durable only once the directory entry is on disk.
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  const std::filesystem::path dir = parent.empty() ? std::filesystem::path(".") : parent;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TS_CHECK(dfd >= 0, "{}: '{}' was written but its directory '{}' cannot be opened to flush it: {}", op_, path_,
           dir.string(), std::strerror(errno));
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  TS_CHECK(rc == 0 || err == EINVAL, "{}: '{}' was written but its directory '{}' cannot be flushed: {}", op_, path_,
           dir.string(), std::strerror(err));
}

}  // namespace ts::io
