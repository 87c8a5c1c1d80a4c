#include "tessera/util/cli.h"

#include <cmath>
#include <cstdio>

#include "tessera/error.h"

namespace ts::util {

ArgParser::ArgParser(std::string program, std::string description)
    : program_(std::move(program)), description_(std::move(description)) {
  add_switch("help", "show this help and exit");
}

ArgParser& ArgParser::add(const std::string& name, const std::string& help, const std::string& default_value,
                          bool is_switch) {
  TS_CHECK(!flags_.count(name), "{}: flag --{} declared twice", program_, name);
  flags_[name] = {help, default_value, is_switch};
  order_.push_back(name);
  return *this;
}

bool ArgParser::parse(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    TS_CHECK(arg.rfind("--", 0) == 0, "{}: unexpected argument '{}' (flags start with --; see --help)", program_, arg);
    arg = arg.substr(2);
    std::string value = "1";  // a switch's value; flags overwrite it below
    bool inline_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    auto it = flags_.find(arg);
    TS_CHECK(it != flags_.end(), "{}: unknown flag --{} (see --help)", program_, arg);
    TS_CHECK(!values_.count(arg), "{}: flag --{} given twice", program_, arg);
    if (it->second.is_switch) {
      TS_CHECK(!inline_value, "{}: switch --{} takes no value", program_, arg);
    } else if (!inline_value) {
      TS_CHECK(i + 1 < argc, "{}: flag --{} needs a value", program_, arg);
      value = argv[++i];
    }
    values_[arg] = value;
  }
  if (values_.count("help")) {
    std::fputs(help().c_str(), stdout);
    return false;
  }
  return true;
}

bool ArgParser::has(const std::string& name) const {
  auto it = flags_.find(name);
  return values_.count(name) || (it != flags_.end() && !it->second.default_value.empty());
}

std::string ArgParser::get(const std::string& name) const {
  auto f = flags_.find(name);
  TS_CHECK(f != flags_.end(), "{}: flag --{} was never declared", program_, name);
  if (auto v = values_.find(name); v != values_.end()) return v->second;
  return f->second.default_value;
}

int64_t ArgParser::get_int(const std::string& name, int64_t min) const {
  const std::string text = get(name);
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TS_CHECK(used == text.size() && !text.empty(), "{}: --{} expects an integer, got '{}'", program_, name, text);
  TS_CHECK(v >= min, "{}: --{} must be at least {}, got {}", program_, name, min, v);
  return v;
}

double ArgParser::get_double(const std::string& name) const {
  const std::string text = get(name);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TS_CHECK(used == text.size() && !text.empty() && std::isfinite(v), "{}: --{} expects a number, got '{}'", program_,
           name, text);
  return v;
}

bool ArgParser::get_switch(const std::string& name) const { return values_.count(name) != 0; }

std::string ArgParser::help() const {
  std::string out = fmt::format("Usage: {} [options]\n{}\n\nOptions:\n", program_, description_);
  for (const auto& name : order_) {
    const Flag& f = flags_.at(name);
    // fmt rather than operator+ chains: GCC 12 raises a false -Wrestrict on those
    out += fmt::format("  {:<22} {}", fmt::format("--{}{}", name, f.is_switch ? "" : " VALUE"), f.help);
    if (!f.default_value.empty()) out += fmt::format(" (default: {})", f.default_value);
    out += "\n";
  }
  return out;
}

}  // namespace ts::util
