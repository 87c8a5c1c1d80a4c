#pragma once
/// A small command-line parser for the example programs: typed flags with defaults, --help
/// generated from the declarations, and clear errors for unknown flags or bad values.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ts::util {

class ArgParser {
 public:
  /// `program` and `description` head the --help text.
  ArgParser(std::string program, std::string description);

  /// Declares a flag `--name VALUE` (or a switch when `is_switch`) with a help line and the
  /// default shown in --help (an empty default means "no default": the flag is optional).
  ArgParser& add(const std::string& name, const std::string& help, const std::string& default_value = "",
                 bool is_switch = false);
  ArgParser& add_switch(const std::string& name, const std::string& help) { return add(name, help, "", true); }

  /// Parses argv. Returns false when --help was given (the help text has been printed to
  /// stdout). Throws ts::Error on an unknown flag, a missing value or a repeated flag.
  bool parse(int argc, const char* const* argv);

  bool has(const std::string& name) const;  ///< given on the command line or has a default
  std::string get(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t min = INT64_MIN) const;
  double get_double(const std::string& name) const;
  bool get_switch(const std::string& name) const;
  std::string help() const;

 private:
  struct Flag {
    std::string help, default_value;
    bool is_switch = false;
  };
  std::string program_, description_;
  std::vector<std::string> order_;
  std::map<std::string, Flag> flags_;
  std::map<std::string, std::string> values_;
};

}  // namespace ts::util
