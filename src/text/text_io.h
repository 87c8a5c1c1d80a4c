#pragma once
// File plumbing shared by the text module: whole-file reads with errors that name the file,
// atomic whole-file writes, and the line splitting / integer parsing the validating loaders
// of tokenizer and meta files use. Private to src/text.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ts::text::detail {

/// The bytes of `path`; `op` names the operation in errors ("CharTokenizer::load").
std::string read_whole_file(const std::string& path, const char* op);

/// Writes `bytes` to `path` through io::AtomicFile: readers see the old or the new file.
void write_file_atomically(const std::string& path, std::string_view bytes, const char* op);

/// The lines of a text file without their '\n'. `unterminated` is set when the last line
/// has no '\n': every format here ends lines with '\n', so that marks a truncated file.
std::vector<std::string_view> split_lines(std::string_view content, bool& unterminated);

/// A non-negative decimal integer spelled with digits only (no sign, no spaces), or nullopt.
std::optional<uint64_t> parse_uint(std::string_view s);

/// `s` split on single spaces (empty fields kept, so double spaces are detectable).
std::vector<std::string_view> split_fields(std::string_view s);

}  // namespace ts::text::detail
