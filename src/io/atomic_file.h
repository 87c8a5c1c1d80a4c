#pragma once
// A file written under a temporary name and moved over its destination only once complete
// and durable (fsync file, rename, fsync directory): readers see the old file or the new one,
// never a torn one. Destroyed without commit(), it removes the temporary file.
#include <cstddef>
#include <cstdint>
#include <string>

namespace ts::io {

class AtomicFile {
 public:
  /// Creates `<path>.tmp.<pid>`; `op` names the operation in errors ("save").
  AtomicFile(std::string path, std::string op);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  /// fsync, close, rename over the destination, fsync the directory.
  void commit();

  const std::string& temp_path() const { return temp_; }

 private:
  void discard() noexcept;

  std::string path_, temp_, op_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

/// Arms the test hook behind io::testing::fail_next_save_after (negative: disarmed).
void set_write_fault(int64_t after_bytes);

}  // namespace ts::io
