// ts::save / ts::load: round trips of every dtype, the reference file written by Python's
// safetensors (tests/golden/gen_safetensors.py), atomic replacement when a save fails
// midway, and rejection of truncated and corrupt files with messages naming the problem.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "tessera/io/checkpoint.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"

#include "temp_dir.h"

namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<uint8_t>;

namespace {

using ts::test::TempDir;

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

/// A safetensors file from a raw header text and data section (the header is not padded).
Bytes make_file(const std::string& header, const Bytes& data) {
  Bytes out(8 + header.size() + data.size());
  const uint64_t n = header.size();
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

Bytes tensor_bytes(const ts::Tensor& t) {
  const ts::Tensor c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.raw_data());
  return Bytes(p, p + c.nbytes());
}

void require_same(const ts::Tensor& actual, const ts::Tensor& expected) {
  INFO("actual " << actual << "\nexpected " << expected);
  REQUIRE(actual.dtype() == expected.dtype());
  REQUIRE(actual.shape() == expected.shape());
  REQUIRE(actual.is_contiguous());
  REQUIRE(tensor_bytes(actual) == tensor_bytes(expected));
}

template <typename T> ts::Tensor make(const std::vector<T>& values, const ts::Shape& shape) {
  return ts::tensor<T>(values, shape, ts::TensorOptions(ts::dtype_of_v<T>));
}

/// The tensors and metadata of tests/golden/gen_safetensors.py's REFERENCE.
ts::StateDict reference_tensors() {
  ts::StateDict sd;
  sd.insert("layer.weight", make<float>({0.5f, -1.25f, 3.0f, 0.001f, -0.0f, 65504.0f}, {2, 3}));
  sd.insert("layer.bias", make<double>({3.141592653589793, -2.718281828459045, 1e-300}, {3}));
  sd.insert("half", make<ts::Half>({ts::Half(1.0f), ts::Half(-2.5f), ts::Half(0.0999755859375f), ts::Half(65504.0f)},
                                   {2, 2}));
  sd.insert("brain", make<ts::BFloat16>({ts::BFloat16(1.0f), ts::BFloat16(-3.140625f), ts::BFloat16(256.0f)}, {3}));
  sd.insert("step", make<int64_t>({123456789012}, {1}).reshape({}));  // 0-d
  sd.insert("counts", make<int32_t>({-7, 0, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()},
                                    {2, 2}));
  sd.insert("pixels", make<uint8_t>({0, 1, 128, 255}, {4}));
  sd.insert("mask", make<bool>({true, false, true, false, false, true}, {2, 3}));
  sd.insert("empty", ts::empty({0, 4}, ts::TensorOptions(ts::kFloat32)));
  return sd;
}

const std::map<std::string, std::string> kReferenceMetadata = {
    {"format", "pt"}, {"epoch", "3"}, {"note", "unicode \u2713 \"quoted\"\nline"}};

std::string golden_path() {
  return (fs::path(__FILE__).parent_path().parent_path() / "golden" / "reference.safetensors").string();
}

/// A small valid file: "a" F32 [2] then "b" I64 [1]; 16 + 8 data bytes.
const std::string kTwoTensors =
    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";

}  // namespace

TEST_CASE("save and load round-trip every dtype, shape, name and metadata", "[io]") {
  TempDir dir;
  ts::StateDict sd = reference_tensors();
  // A transposed (non-contiguous) view and a slice are written as their logical contents.
  ts::Tensor base = ts::arange(0, 12, 1, ts::TensorOptions(ts::kFloat32)).reshape({3, 4});
  sd.insert("transposed", base.t());
  sd.insert("sliced", base.slice(1, 1, 4, 2));
  sd.insert("needs_grad", ts::randn({5}, ts::kFloat64).requires_grad_(true));
  sd.insert("quote\" back\\slash \t\u00e9\u4e2d\U0001F600 \x01", ts::ones({1}, ts::kInt32));
  const std::map<std::string, std::string> meta = {
      {"step", "1200"}, {"empty", ""}, {"json", "{\"not\": [\"parsed\"]}"}, {"ctl", "\x1f\b\f\r"}};

  const std::string path = dir.file("model.safetensors");
  ts::save(sd, path, meta);
  const ts::Checkpoint ck = ts::load(path);

  REQUIRE(ck.metadata == meta);
  REQUIRE(ck.tensors.keys() == sd.keys());
  for (const auto& [name, t] : sd) {
    INFO(name);
    require_same(ck.tensors.at(name), t.detach());
    REQUIRE_FALSE(ck.tensors.at(name).requires_grad());
  }
  REQUIRE(ck.tensors.at("transposed").to_vector<float>() ==
          std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  REQUIRE(ck.tensors.at("sliced").to_vector<float>() == std::vector<float>{1, 3, 5, 7, 9, 11});

  // Layout: little-endian header length, header padded to 8 bytes, data 8-byte aligned.
  const Bytes file = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[static_cast<size_t>(i)];
  REQUIRE(n % 8 == 0);
  REQUIRE(file[8] == '{');
  REQUIRE(8 + n <= file.size());

  // Many tensors (a large model's state dict): order and contents survive.
  ts::StateDict many;
  for (int i = 0; i < 3000; ++i) many.insert("layers." + std::to_string(i) + ".weight", ts::full({2}, i, ts::kInt32));
  ts::save(many, path);
  const ts::Checkpoint many_back = ts::load(path);
  REQUIRE(many_back.tensors.keys() == many.keys());
  REQUIRE(many_back.tensors.at("layers.2999.weight").to_vector<int32_t>() == std::vector<int32_t>{2999, 2999});

  // An empty state dict (and no metadata) is a valid file too.
  ts::save(ts::StateDict(), path);
  const ts::Checkpoint none = ts::load(path);
  REQUIRE(none.tensors.empty());
  REQUIRE(none.metadata.empty());
}

TEST_CASE("load reads the reference file written by Python's safetensors", "[io]") {
  const std::string path = golden_path();
  const ts::Checkpoint ck = ts::load(path);
  REQUIRE(ck.metadata == kReferenceMetadata);
  const ts::StateDict expected = reference_tensors();
  REQUIRE(ck.tensors.size() == expected.size());
  for (const auto& [name, t] : expected) {
    INFO(name);
    require_same(ck.tensors.at(name), t);
  }
  // Spot-check values through the dtype conversions as well as the bytes.
  REQUIRE(ck.tensors.at("layer.weight").to_vector<double>() ==
          std::vector<double>{0.5, -1.25, 3.0, static_cast<double>(0.001f), 0.0, 65504.0});
  REQUIRE(std::signbit(ck.tensors.at("layer.weight").to_vector<float>()[4]));
  REQUIRE(ck.tensors.at("half").to_vector<float>() == std::vector<float>{1.0f, -2.5f, 0.0999755859375f, 65504.0f});
  REQUIRE(ck.tensors.at("brain").to_vector<float>() == std::vector<float>{1.0f, -3.140625f, 256.0f});
  REQUIRE(ck.tensors.at("step").dim() == 0);
  REQUIRE(ck.tensors.at("step").item<int64_t>() == 123456789012);
  REQUIRE(ck.tensors.at("mask").to_vector<bool>() == std::vector<bool>{true, false, true, false, false, true});
  REQUIRE(ck.tensors.at("empty").shape() == ts::Shape{0, 4});
}

TEST_CASE("save writes files that Python's safetensors reads", "[io]") {
  TempDir dir;
  // To check with Python: set TESSERA_SAFETENSORS_EXPORT=<file>, run this test, then
  // `python3 tests/golden/gen_safetensors.py --verify <file>` (see that script).
  const char* env = std::getenv("TESSERA_SAFETENSORS_EXPORT");
  const std::string path = env != nullptr && *env != '\0' ? std::string(env) : dir.file("tessera.safetensors");
  ts::save(reference_tensors(), path, kReferenceMetadata);

  // Same tensors and metadata as Python's file, though the byte layout may differ (Python
  // orders the data by alignment, Tessera in state-dict order).
  const ts::Checkpoint ours = ts::load(path);
  const ts::Checkpoint python = ts::load(golden_path());
  REQUIRE(ours.metadata == python.metadata);
  REQUIRE(ours.tensors.keys() == reference_tensors().keys());
  for (const auto& [name, t] : python.tensors) {
    INFO(name);
    require_same(ours.tensors.at(name), t);
  }
}

TEST_CASE("a save that fails midway leaves the previous checkpoint intact", "[io]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  ts::StateDict v1;
  v1.insert("w", ts::full({64, 64}, 1.0, ts::kFloat32));
  ts::save(v1, path, {{"version", "1"}});
  const Bytes original = read_bytes(path);

  ts::StateDict v2;
  v2.insert("w", ts::full({64, 64}, 2.0, ts::kFloat32));
  v2.insert("extra", ts::zeros({100}, ts::kFloat64));
  // Fail before anything is written, inside the length field, inside the header, and inside
  // each tensor's data.
  for (uint64_t after : {uint64_t{0}, uint64_t{5}, uint64_t{40}, uint64_t{1000}, uint64_t{16500}}) {
    INFO("failing after " << after << " bytes");
    ts::io::testing::fail_next_save_after(after);
    REQUIRE_THROWS_WITH(ts::save(v2, path, {{"version", "2"}}),
                        Contains(path) && Contains("injected write failure after " + std::to_string(after)));
    REQUIRE(read_bytes(path) == original);
    REQUIRE(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});  // no temp file left
    REQUIRE(ts::load(path).metadata.at("version") == "1");
  }

  // The hook fires once: the next save goes through and replaces the file.
  ts::save(v2, path, {{"version", "2"}});
  const ts::Checkpoint ck = ts::load(path);
  REQUIRE(ck.metadata.at("version") == "2");
  require_same(ck.tensors.at("w"), v2.at("w"));
  REQUIRE(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});

  // The hook can be disarmed before it fires.
  ts::io::testing::fail_next_save_after(0);
  ts::io::testing::fail_next_save_after(std::nullopt);
  REQUIRE_NOTHROW(ts::save(v1, path));
}

TEST_CASE("save reports what it cannot write", "[io]") {
  TempDir dir;
  ts::StateDict sd;
  sd.insert("w", ts::ones({2}));
  const std::string missing_dir = dir.file("no/such/dir/model.safetensors");
  REQUIRE_THROWS_WITH(ts::save(sd, missing_dir), Contains("cannot create") && Contains(missing_dir));

  ts::StateDict undefined;
  undefined.insert("ghost", ts::Tensor());
  const std::string path = dir.file("m.safetensors");
  REQUIRE_THROWS_WITH(ts::save(undefined, path), Contains(path) && Contains("tensor 'ghost' is undefined"));

  ts::StateDict reserved;
  reserved.insert("__metadata__", ts::ones({1}));
  REQUIRE_THROWS_WITH(ts::save(reserved, path), Contains("__metadata__"));

  ts::StateDict bad_utf8;
  bad_utf8.insert("caf\xe9", ts::ones({1}));
  REQUIRE_THROWS_WITH(ts::save(bad_utf8, path), Contains("not valid UTF-8"));
  REQUIRE_THROWS_WITH(ts::save(sd, path, {{"k", "\xff"}}), Contains("metadata entry 'k' is not valid UTF-8"));
  // None of the failures above created a file.
  REQUIRE(dir.entries().empty());
}

TEST_CASE("load rejects missing and truncated files", "[io]") {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  REQUIRE_THROWS_WITH(ts::load(missing), Contains("cannot open") && Contains(missing));
  REQUIRE_THROWS_WITH(ts::load(dir.path.string()), Contains("is a directory"));

  const Bytes good = make_file(kTwoTensors, Bytes(16, 0));
  const std::string path = dir.file("cut.safetensors");
  write_bytes(path, good);
  REQUIRE_NOTHROW(ts::load(path));

  // Every proper prefix of a valid file is rejected with an error naming the file.
  for (size_t cut = 0; cut < good.size(); ++cut) {
    INFO("cut at " << cut << " of " << good.size() << " bytes");
    write_bytes(path, Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
    REQUIRE_THROWS_WITH(ts::load(path), Contains(path));
  }
  write_bytes(path, Bytes(good.begin(), good.begin() + 5));
  REQUIRE_THROWS_WITH(ts::load(path), Contains("truncated: the file holds 5 bytes"));
  write_bytes(path, Bytes(good.begin(), good.begin() + 50));
  REQUIRE_THROWS_WITH(ts::load(path), Contains("the header length field says " + std::to_string(kTwoTensors.size()) +
                                               " bytes but only 42 bytes follow it"));
  write_bytes(path, Bytes(good.begin(), good.end() - 3));
  REQUIRE_THROWS_WITH(ts::load(path), Contains("tensor 'b'") && Contains("reach past the end of the 13-byte data"));

  // Data after the last tensor is corruption too.
  Bytes longer = good;
  longer.push_back(0);
  write_bytes(path, longer);
  REQUIRE_THROWS_WITH(ts::load(path), Contains("1 bytes after the last tensor's data"));
}

TEST_CASE("load rejects corrupt headers with a message naming the problem", "[io]") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto load_header = [&](const std::string& header, const Bytes& data) {
    write_bytes(path, make_file(header, data));
    return ts::load(path);
  };
  const Bytes data16(16, 0);
  auto tensor = [](const std::string& name, const std::string& dtype, const std::string& shape,
                   const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };

  SECTION("malformed JSON") {
    REQUIRE_THROWS_WITH(load_header("{\"a\":{\"dtype\":\"F32\",", data16),
                        Contains(path) && Contains("malformed JSON at byte"));
    REQUIRE_THROWS_WITH(load_header("{\"a\":1,}   ", {}), Contains("expected a quoted key"));
    REQUIRE_THROWS_WITH(load_header("{} trailing", {}), Contains("after the end of the document"));
    REQUIRE_THROWS_WITH(load_header("{\"a\":\"\xc3\x28\"}", {}), Contains("invalid UTF-8"));
    REQUIRE_THROWS_WITH(load_header("{\"a\":\"\\ud800\"}", {}), Contains("surrogate"));
    REQUIRE_THROWS_WITH(load_header("{\"a\":\"tab\there\"}", {}), Contains("unescaped control character"));
    REQUIRE_THROWS_WITH(load_header("{\"a\":01}", {}), Contains("leading zero"));
    REQUIRE_THROWS_WITH(load_header(std::string(100, '[') + std::string(100, ']'), {}), Contains("nesting deeper"));
    REQUIRE_THROWS_WITH(load_header("[1, 2]", {}), Contains("expected a JSON object but got an array"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("a", "F32", "[2]", "[0,8]") + "," +
                                        tensor("a", "F32", "[2]", "[8,16]") + "}", data16),
                        Contains("duplicate key \"a\""));
  }
  SECTION("bad entries") {
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "Q8", "[4]", "[0,16]") + "}", data16),
                        Contains("tensor 'w'") && Contains("unknown dtype \"Q8\""));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "I16", "[8]", "[0,16]") + "}", data16),
                        Contains("unsupported dtype \"I16\""));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "[-4]", "[0,16]") + "}", data16),
                        Contains("shape entry -4 is not a non-negative integer"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "[4.0]", "[0,16]") + "}", data16),
                        Contains("shape entry 4.0"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "4", "[0,16]") + "}", data16),
                        Contains("shape must be an array"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "[4]", "[0]") + "}", data16),
                        Contains("data_offsets must be an array [begin, end]"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "[4]", "[16,0]") + "}", data16),
                        Contains("end before they begin"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "[3]", "[0,16]") + "}", data16),
                        Contains("F32 [3] needs 12 bytes but data_offsets [0, 16] hold 16"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("w", "F32", "[4294967296,4294967296,4294967296]", "[0,16]") + "}",
                                    data16),
                        Contains("needs more than 2^64 bytes"));
    REQUIRE_THROWS_WITH(load_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", data16),
                        Contains("missing field \"data_offsets\""));
    REQUIRE_THROWS_WITH(load_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"x\":1}}",
                                    data16),
                        Contains("unexpected field \"x\""));
    REQUIRE_THROWS_WITH(load_header("{\"w\":[1]}", data16), Contains("tensor 'w': expected an object"));
    REQUIRE_THROWS_WITH(load_header("{\"__metadata__\":{\"epoch\":3}}", {}),
                        Contains("__metadata__ entry 'epoch' must be a string but is a number"));
    REQUIRE_THROWS_WITH(load_header("{\"__metadata__\":[]}", {}), Contains("__metadata__ must be an object"));
  }
  SECTION("offsets that do not tile the data section") {
    REQUIRE_THROWS_WITH(load_header("{" + tensor("a", "F32", "[2]", "[0,8]") + "," +
                                        tensor("b", "F32", "[2]", "[4,12]") + "}", Bytes(12, 0)),
                        Contains("tensors 'a' [0, 8] and 'b' [4, 12] overlap"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("a", "F32", "[2]", "[0,8]") + "," +
                                        tensor("b", "F32", "[2]", "[12,20]") + "}", Bytes(20, 0)),
                        Contains("gap of 4 bytes in the data section before tensor 'b'"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("a", "F32", "[2]", "[0,8]") + "}", Bytes(12, 0)),
                        Contains("4 bytes after the last tensor's data"));
    REQUIRE_THROWS_WITH(load_header("{" + tensor("a", "F32", "[4]", "[0,16]") + "}", Bytes(8, 0)),
                        Contains("reach past the end of the 8-byte data section"));
    // Out of order in the JSON text but tiling the data: fine, and the text order is kept.
    const ts::Checkpoint ck = load_header("{" + tensor("b", "I64", "[1]", "[8,16]") + "," +
                                          tensor("a", "F32", "[2]", "[0,8]") + "," +
                                          tensor("e", "F32", "[0]", "[8,8]") + "}", data16);
    REQUIRE(ck.tensors.keys() == std::vector<std::string>{"b", "a", "e"});
  }
  SECTION("invalid BOOL bytes") {
    REQUIRE_THROWS_WITH(load_header("{" + tensor("m", "BOOL", "[3]", "[0,3]") + "}", Bytes{1, 0, 2}),
                        Contains("tensor 'm': BOOL element 2 holds byte 2"));
  }
  SECTION("absurd header lengths") {
    Bytes file = make_file("{}", {});
    file[7] = 0x7f;  // length ~ 2^63
    write_bytes(path, file);
    REQUIRE_THROWS_WITH(ts::load(path), Contains("header length field says") && Contains("truncated or not a "
                                                                                            "safetensors file"));
  }
}

TEST_CASE("safetensors dtype codes", "[io]") {
  using ts::io::dtype_from_safetensors;
  using ts::io::safetensors_dtype;
  for (ts::DType dt : {ts::kFloat32, ts::kFloat64, ts::kFloat16, ts::kBFloat16, ts::kInt32, ts::kInt64, ts::kUInt8,
                       ts::kBool}) {
    REQUIRE(dtype_from_safetensors(safetensors_dtype(dt)) == dt);
  }
  REQUIRE(safetensors_dtype(ts::kBFloat16) == "BF16");
  REQUIRE(safetensors_dtype(ts::kBool) == "BOOL");
  REQUIRE_FALSE(dtype_from_safetensors("f32").has_value());
  REQUIRE(ts::element_size(ts::kBool) == 1);  // BOOL is one byte in the format
}
