#include "tessera/error.h"

namespace ts::detail {

// The source location is kept out of the message users match on; it is appended in
// brackets so bug reports still point at the throwing line.
void throw_error(const char* file, int line, const std::string& msg) {
  std::string where = file;
  auto pos = where.rfind("/src/");
  if (pos != std::string::npos) where = where.substr(pos + 1);
  throw Error(fmt::format("{} [{}:{}]", msg, where, line));
}

}  // namespace ts::detail
