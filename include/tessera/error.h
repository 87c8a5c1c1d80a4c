#pragma once
/// Error reporting: every user-facing failure is a ts::Error whose message names the op,
/// the shapes/dtypes involved and what was expected.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace ts {

/// The one exception type Tessera throws for bad input or invalid state.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace ts

/// Throws ts::Error with a fmt-formatted message when `cond` is false.
#define TS_CHECK(cond, ...)                                                        \
  do {                                                                             \
    if (!(cond)) [[unlikely]] {                                                    \
      ::ts::detail::throw_error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__));   \
    }                                                                              \
  } while (0)

/// Unconditional error with a fmt-formatted message.
#define TS_ERROR(...) ::ts::detail::throw_error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
