#include "tessera/io/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "atomic_file.h"
#include "tessera/autograd.h"
#include "tessera/io/safetensors.h"

namespace ts {

// Tensors are written and read as their in-memory bytes; safetensors data is little-endian.
static_assert(std::endian::native == std::endian::little, "ts::save / ts::load assume a little-endian host");

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// Reads exactly `n` bytes at `offset`; throws naming `path` if the file ends first.
void pread_all(int fd, void* dst, size_t n, uint64_t offset, const std::string& path, const char* what) {
  auto* p = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    TS_CHECK(got >= 0, "load: '{}': error reading {}: {}", path, what, std::strerror(errno));
    TS_CHECK(got > 0, "load: '{}': the file ended while reading {} (it shrank while being read?)", path, what);
    done += static_cast<size_t>(got);
  }
}

}  // namespace

namespace io::testing {
void fail_next_save_after(std::optional<uint64_t> bytes) {
  io::set_write_fault(bytes ? static_cast<int64_t>(*bytes) : -1);
}
}  // namespace io::testing

void save(const StateDict& state, const std::string& path, const std::map<std::string, std::string>& metadata) {
  const std::string context = fmt::format("save: '{}'", path);
  io::SafetensorsHeader header;
  header.metadata = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : state) {
    TS_CHECK(t.defined(), "{}: tensor '{}' is undefined", context, name);
    const uint64_t bytes = t.nbytes();
    header.tensors.push_back({name, t.dtype(), t.shape(), offset, offset + bytes});
    offset += bytes;
  }
  const std::string json = io::encode_header(header, context);

  io::AtomicFile file(path, "save");
  const auto header_len = static_cast<uint64_t>(json.size());
  file.write(&header_len, sizeof(header_len));
  file.write(json.data(), json.size());
  NoGradGuard no_grad;
  for (const auto& [name, t] : state) {
    // One tensor at a time: at most one host copy of a device tensor exists at once.
    const Tensor host = t.detach().to(Device(DeviceType::CPU)).contiguous();
    file.write(host.raw_data(), host.nbytes());
  }
  file.commit();
}

Checkpoint load(const std::string& path) {
  std::error_code ec;
  TS_CHECK(!std::filesystem::is_directory(path, ec), "load: '{}' is a directory, expected a safetensors file", path);
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  TS_CHECK(file.fd >= 0, "load: cannot open '{}': {}", path, std::strerror(errno));
  struct stat st{};
  TS_CHECK(::fstat(file.fd, &st) == 0, "load: cannot stat '{}': {}", path, std::strerror(errno));
  TS_CHECK(S_ISREG(st.st_mode), "load: '{}' is not a regular file", path);
  const auto size = static_cast<uint64_t>(st.st_size);
  TS_CHECK(size >= 8, "load: '{}': truncated: the file holds {} bytes, less than the 8-byte header length that starts "
           "a safetensors file", path, size);

  uint64_t header_len = 0;
  pread_all(file.fd, &header_len, sizeof(header_len), 0, path, "the header length");
  TS_CHECK(header_len <= size - 8,
           "load: '{}': the header length field says {} bytes but only {} bytes follow it; the file is truncated or "
           "not a safetensors file", path, header_len, size - 8);
  TS_CHECK(header_len <= io::kSafetensorsMaxHeaderBytes,
           "load: '{}': the header length field says {} bytes, more than the {} a safetensors header may hold; the "
           "file is corrupt", path, header_len, io::kSafetensorsMaxHeaderBytes);
  TS_CHECK(header_len >= 2, "load: '{}': the header length field says {} bytes, too short for a JSON object", path,
           header_len);
  std::string json(static_cast<size_t>(header_len), '\0');
  pread_all(file.fd, json.data(), json.size(), 8, path, "the header");

  const uint64_t data_start = 8 + header_len;
  const io::SafetensorsHeader header = io::decode_header(json, size - data_start, fmt::format("load: '{}'", path));

  Checkpoint out;
  out.metadata = header.metadata;
  for (const auto& info : header.tensors) {
    Tensor t = make_tensor(info.shape, info.dtype, Device(DeviceType::CPU));
    const std::string what = fmt::format("tensor '{}'", info.name);
    pread_all(file.fd, t.raw_data(), t.nbytes(), data_start + info.begin, path, what.c_str());
    if (info.dtype == kBool) {
      // Any byte other than 0 or 1 would be an invalid C++ bool.
      const auto* bytes = static_cast<const uint8_t*>(t.raw_data());
      for (size_t i = 0; i < t.nbytes(); ++i) {
        TS_CHECK(bytes[i] <= 1, "load: '{}': tensor '{}': BOOL element {} holds byte {}, expected 0 or 1", path,
                 info.name, i, bytes[i]);
      }
    }
    TS_CHECK(!out.tensors.contains(info.name), "load: '{}': tensor '{}' appears twice", path, info.name);
    out.tensors.insert(info.name, t);
  }
  return out;
}

}  // namespace ts
