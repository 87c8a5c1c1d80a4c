#include "text_io.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/atomic_file.h"
#include "tessera/error.h"

namespace ts::text::detail {

std::string read_whole_file(const std::string& path, const char* op) {
  std::ifstream in(path, std::ios::binary);
  TS_CHECK(in.is_open(), "{}: cannot open '{}': {}", op, path, std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  TS_CHECK(!in.bad(), "{}: error reading '{}'", op, path);
  return std::move(buf).str();
}

void write_file_atomically(const std::string& path, std::string_view bytes, const char* op) {
  io::AtomicFile file(path, op);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

std::vector<std::string_view> split_lines(std::string_view content, bool& unterminated) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < content.size()) {
    const size_t nl = content.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(content.substr(start));
      unterminated = true;
      return lines;
    }
    lines.push_back(content.substr(start, nl - start));
    start = nl + 1;
  }
  unterminated = false;
  return lines;
}

std::optional<uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t sp = s.find(' ', start);
    if (sp == std::string_view::npos) {
      fields.push_back(s.substr(start));
      return fields;
    }
    fields.push_back(s.substr(start, sp - start));
    start = sp + 1;
  }
}

}  // namespace ts::text::detail
