#pragma once
// Helpers shared by the text tests: raw file I/O, the Tiny Shakespeare path, and the check
// that a tokenizer loader names the file and line of each corrupted file.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "temp_dir.h"

namespace ts::test {

inline void write_text(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// $TESSERA_DATA/tinyshakespeare/input.txt, or "" when it is not there.
inline std::string shakespeare_path() {
  const char* env = std::getenv("TESSERA_DATA");
  if (env == nullptr) return {};
  const std::filesystem::path p = std::filesystem::path(env) / "tinyshakespeare" / "input.txt";
  std::error_code ec;
  return std::filesystem::exists(p, ec) ? p.string() : std::string();
}

/// A corrupted tokenizer file and what loading it must report.
struct CorruptFile {
  std::string content;
  int line;          ///< the line the error must name
  std::string what;  ///< a part of the message
};

/// REQUIREs that `load(path)` throws ts::Error naming "<loader>: '<path>' line <N>:" and the
/// expectation for every case, and that a missing file is reported by name.
template <typename Load>
void require_load_errors(const TempDir& dir, const std::string& loader, const std::vector<CorruptFile>& cases,
                         Load&& load) {
  const std::string path = dir.file("corrupt.txt");
  for (const CorruptFile& c : cases) {
    INFO("file content: " << c.content);
    write_text(path, c.content);
    REQUIRE_THROWS_AS(load(path), ts::Error);
    REQUIRE_THROWS_WITH(load(path), Catch::Contains(loader + ": '" + path + "' line " + std::to_string(c.line) + ":") &&
                                        Catch::Contains(c.what));
  }
  const std::string missing = dir.file("missing.txt");
  REQUIRE_THROWS_WITH(load(missing), Catch::Contains("cannot open") && Catch::Contains(missing));
}

}  // namespace ts::test
