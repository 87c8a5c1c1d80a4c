#pragma once
/// Token files in nanoGPT's train.bin/val.bin format: a flat array of little-endian uint16
/// token ids, no header. Read through a read-only memory map, so a large corpus costs no
/// heap and opening it is instant.
#include <cstdint>
#include <string>
#include <vector>

namespace ts::text {

/// Writes `tokens` as little-endian uint16, atomically (readers see the old or the new
/// file). vocab_size above 65536, a token outside [0, vocab_size) or no tokens -> ts::Error.
void write_token_file(const std::string& path, const std::vector<int32_t>& tokens, int64_t vocab_size);

/// A read-only memory map of a token file.
class TokenFile {
 public:
  /// Maps `path`. A missing, empty or odd-sized (truncated) file -> ts::Error naming it.
  explicit TokenFile(const std::string& path);
  ~TokenFile();
  TokenFile(TokenFile&& other) noexcept;
  TokenFile& operator=(TokenFile&& other) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  /// Number of tokens.
  int64_t size() const { return size_; }
  /// Token i; i outside [0, size()) -> ts::Error.
  uint16_t operator[](int64_t i) const;
  /// The tokens (size() of them), valid while this TokenFile lives.
  const uint16_t* data() const { return data_; }
  const std::string& path() const { return path_; }

  /// Scans every token: one >= vocab_size -> ts::Error naming the file and its position.
  void validate(int64_t vocab_size) const;

 private:
  void unmap() noexcept;

  std::string path_;
  const uint16_t* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace ts::text
