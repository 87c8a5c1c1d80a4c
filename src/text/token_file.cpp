#include "tessera/text/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>

#include "io/atomic_file.h"
#include "tessera/error.h"

namespace ts::text {

// The mapped bytes are used as uint16_t directly, which is the file's little-endian layout
// only on a little-endian host (every platform Tessera builds for).
static_assert(std::endian::native == std::endian::little, "TokenFile maps little-endian uint16 files directly");

void write_token_file(const std::string& path, const std::vector<int32_t>& tokens, int64_t vocab_size) {
  TS_CHECK(vocab_size >= 1 && vocab_size <= 65536,
           "write_token_file: '{}': vocab_size {} does not fit uint16 token ids (1..65536)", path, vocab_size);
  TS_CHECK(!tokens.empty(), "write_token_file: '{}': no tokens to write; a token file holds at least one", path);
  io::AtomicFile file(path, "write_token_file");
  std::array<uint16_t, 32768> buffer{};
  size_t filled = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t t = tokens[i];
    TS_CHECK(t >= 0 && t < vocab_size, "write_token_file: '{}': token {} at position {} is out of range for "
             "vocab_size {}", path, t, i, vocab_size);
    buffer[filled++] = static_cast<uint16_t>(t);
    if (filled == buffer.size() || i + 1 == tokens.size()) {
      file.write(buffer.data(), filled * sizeof(uint16_t));
      filled = 0;
    }
  }
  file.commit();
}

TokenFile::TokenFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TS_CHECK(fd >= 0, "TokenFile: cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    TS_ERROR("TokenFile: cannot stat '{}': {}", path, std::strerror(err));
  }
  const auto bytes = static_cast<uint64_t>(st.st_size);
  if (bytes == 0 || bytes % 2 != 0) {
    ::close(fd);
    TS_CHECK(bytes != 0, "TokenFile: '{}' is empty; expected uint16 token ids", path);
    TS_ERROR("TokenFile: '{}' has {} bytes, an odd number: a file of uint16 tokens has an even size, so it is "
             "truncated or not a token file", path, bytes);
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  TS_CHECK(p != MAP_FAILED, "TokenFile: cannot map '{}' ({} bytes): {}", path, bytes, std::strerror(err));
  data_ = static_cast<const uint16_t*>(p);
  size_ = static_cast<int64_t>(bytes / 2);
}

TokenFile::~TokenFile() { unmap(); }

TokenFile::TokenFile(TokenFile&& other) noexcept
    : path_(std::move(other.path_)), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

TokenFile& TokenFile::operator=(TokenFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void TokenFile::unmap() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<uint16_t*>(data_), static_cast<size_t>(size_) * 2);
  data_ = nullptr;
  size_ = 0;
}

uint16_t TokenFile::operator[](int64_t i) const {
  TS_CHECK(i >= 0 && i < size_, "TokenFile: index {} is out of range for '{}' ({} tokens)", i, path_, size_);
  return data_[i];
}

void TokenFile::validate(int64_t vocab_size) const {
  TS_CHECK(vocab_size >= 1, "TokenFile::validate: '{}': vocab_size must be positive, got {}", path_, vocab_size);
  for (int64_t i = 0; i < size_; ++i) {
    TS_CHECK(data_[i] < vocab_size, "TokenFile::validate: '{}': token {} at position {} (byte offset {}) is out of "
             "range for vocab_size {}", path_, data_[i], i, 2 * i, vocab_size);
  }
}

}  // namespace ts::text
