#include "tessera/data/cifar10.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "image_example.h"
#include "tessera/creation.h"

namespace ts::data {
namespace {

namespace fs = std::filesystem;

/// Closes a file descriptor at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::vector<uint8_t> read_records(const std::string& path) {
  std::error_code ec;
  TS_CHECK(!fs::is_directory(path, ec), "cifar10: '{}' is a directory, expected a CIFAR-10 binary batch file", path);
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  TS_CHECK(file.fd >= 0, "cifar10: cannot open '{}': {}", path, std::strerror(errno));
  struct stat st{};
  TS_CHECK(::fstat(file.fd, &st) == 0, "cifar10: cannot stat '{}': {}", path, std::strerror(errno));
  TS_CHECK(S_ISREG(st.st_mode), "cifar10: '{}' is not a regular file", path);
  const auto size = static_cast<uint64_t>(st.st_size);
  const auto record = static_cast<uint64_t>(kCifar10RecordBytes);
  TS_CHECK(size != 0, "cifar10: '{}' is empty; a CIFAR-10 batch holds {}-byte records", path, record);
  TS_CHECK(size <= kCifar10MaxFileBytes,
           "cifar10: '{}' holds {} bytes, more than the {} a CIFAR-10 batch file may hold; it is not one", path, size,
           kCifar10MaxFileBytes);
  TS_CHECK(size % record == 0,
           "cifar10: '{}' holds {} bytes, not a multiple of the {}-byte record ({} whole records and {} bytes over); "
           "the file is truncated or not a CIFAR-10 binary batch", path, size, record, size / record, size % record);

  std::vector<uint8_t> bytes(size);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(file.fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    TS_CHECK(got >= 0, "cifar10: error reading '{}': {}", path, std::strerror(errno));
    TS_CHECK(got > 0, "cifar10: '{}' ended after {} of its {} bytes (was it truncated while being read?)", path, done,
             size);
    done += static_cast<size_t>(got);
  }
  return bytes;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

Cifar10Split read_cifar10_batch(const std::string& path) {
  const std::vector<uint8_t> bytes = read_records(path);
  const auto n = static_cast<int64_t>(bytes.size()) / kCifar10RecordBytes;
  Cifar10Split split;
  split.images = ts::empty({n, 3, 32, 32}, TensorOptions(kUInt8));
  split.labels = ts::empty({n}, TensorOptions(kInt64));
  uint8_t* images = split.images.data_ptr<uint8_t>();
  int64_t* labels = split.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* rec = bytes.data() + i * kCifar10RecordBytes;
    TS_CHECK(rec[0] <= 9, "cifar10: '{}': record {} (byte offset {}) has label {}, expected a class 0..9; the file is "
             "corrupt or not a CIFAR-10 batch", path, i, i * kCifar10RecordBytes, rec[0]);
    labels[i] = rec[0];
    std::memcpy(images + i * kCifar10ImageBytes, rec + 1, static_cast<size_t>(kCifar10ImageBytes));
  }
  return split;
}

Cifar10Split load_cifar10(const std::string& dir, Cifar10Set set) {
  std::vector<std::string> names;
  if (set == Cifar10Set::Train) {
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  } else {
    names.push_back("test_batch.bin");
  }
  std::error_code ec;
  TS_CHECK(fs::is_directory(dir, ec), "cifar10: '{}' is not a directory; expected the folder holding {}", dir,
           names[0]);
  fs::path folder = dir;
  for (const char* sub : {"cifar10", "cifar-10-batches-bin"}) {
    if (!is_file(folder / names[0]) && is_file(fs::path(dir) / sub / names[0])) folder = fs::path(dir) / sub;
  }
  TS_CHECK(is_file(folder / names[0]), "cifar10: found no {0} in '{1}', '{1}/cifar10' or '{1}/cifar-10-batches-bin'",
           names[0], dir);

  std::vector<Cifar10Split> parts;
  int64_t total = 0;
  for (const auto& name : names) {
    const fs::path path = folder / name;
    TS_CHECK(is_file(path), "cifar10: '{}' is missing; the {} split needs {}", path.string(),
             set == Cifar10Set::Train ? "training" : "test", fmt::join(names, ", "));
    parts.push_back(read_cifar10_batch(path.string()));
    total += parts.back().size();
  }
  if (parts.size() == 1) return std::move(parts[0]);

  Cifar10Split split;
  split.images = ts::empty({total, 3, 32, 32}, TensorOptions(kUInt8));
  split.labels = ts::empty({total}, TensorOptions(kInt64));
  int64_t at = 0;
  for (const auto& p : parts) {
    std::memcpy(split.images.data_ptr<uint8_t>() + at * kCifar10ImageBytes, p.images.data_ptr<uint8_t>(),
                p.images.nbytes());
    std::memcpy(split.labels.data_ptr<int64_t>() + at, p.labels.data_ptr<int64_t>(), p.labels.nbytes());
    at += p.size();
  }
  return split;
}

CIFAR10::CIFAR10(const std::string& dir, Cifar10Set set) : CIFAR10(load_cifar10(dir, set)) {}

CIFAR10::CIFAR10(Cifar10Split split) : split_(std::move(split)) {
  TS_CHECK(split_.images.defined() && split_.labels.defined() && split_.images.dtype() == kUInt8 &&
               split_.images.shape() == Shape({split_.labels.numel(), 3, 32, 32}) &&
               split_.labels.dtype() == kInt64 && split_.labels.dim() == 1,
           "CIFAR10: expected uint8 images (N, 3, 32, 32) and int64 labels (N), got {} and {}",
           detail::describe(split_.images), detail::describe(split_.labels));
  split_.images = split_.images.contiguous();
  split_.labels = split_.labels.contiguous();
}

Example CIFAR10::get(int64_t index) const {
  return detail::image_example(split_.images, split_.labels, index, {3, 32, 32}, "CIFAR10");
}

}  // namespace ts::data
