#include "tessera/io/safetensors.h"

#include <algorithm>
#include <array>
#include <limits>

#include "json.h"
#include "tessera/error.h"

namespace ts::io {
namespace {

struct DTypeCode {
  DType dtype;
  std::string_view code;
};
constexpr std::array<DTypeCode, 8> kCodes = {{{kFloat32, "F32"},
                                              {kFloat64, "F64"},
                                              {kFloat16, "F16"},
                                              {kBFloat16, "BF16"},
                                              {kInt32, "I32"},
                                              {kInt64, "I64"},
                                              {kUInt8, "U8"},
                                              {kBool, "BOOL"}}};

/// Codes of the safetensors spec that Tessera has no dtype for (a clearer error than "unknown").
constexpr std::array<std::string_view, 13> kUnsupportedCodes = {
    "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64", "C128"};

/// The byte size of `shape` x `element` elements, or nullopt on overflow.
std::optional<uint64_t> byte_size(const Shape& shape, size_t element) {
  uint64_t n = element;
  for (const int64_t d : shape) {
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) return std::nullopt;
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

TensorInfo decode_tensor(const std::string& name, const json::Value& v, uint64_t data_size, std::string_view ctx) {
  using Kind = json::Value::Kind;
  TS_CHECK(v.kind == Kind::Object, "{}: tensor '{}': expected an object with dtype, shape and data_offsets but got "
           "{}", ctx, name, json::kind_name(v.kind));
  const json::Value* dtype = nullptr;
  const json::Value* shape = nullptr;
  const json::Value* offsets = nullptr;
  for (const auto& [key, field] : v.members) {
    if (key == "dtype") dtype = &field;
    else if (key == "shape") shape = &field;
    else if (key == "data_offsets") offsets = &field;
    else TS_ERROR("{}: tensor '{}': unexpected field \"{}\" (expected only dtype, shape and data_offsets)", ctx, name, key);
  }
  TS_CHECK(dtype != nullptr && shape != nullptr && offsets != nullptr,
           "{}: tensor '{}': missing field \"{}\"", ctx, name,
           dtype == nullptr ? "dtype" : shape == nullptr ? "shape" : "data_offsets");

  TensorInfo info;
  info.name = name;
  TS_CHECK(dtype->kind == Kind::String, "{}: tensor '{}': dtype must be a string but is {}", ctx, name,
           json::kind_name(dtype->kind));
  const auto dt = dtype_from_safetensors(dtype->text);
  if (!dt) {
    const bool known = std::find(kUnsupportedCodes.begin(), kUnsupportedCodes.end(), dtype->text) !=
                       kUnsupportedCodes.end();
    TS_ERROR("{}: tensor '{}': {} dtype \"{}\" (Tessera reads F32, F64, F16, BF16, I32, I64, U8 and BOOL)", ctx, name,
             known ? "unsupported" : "unknown", dtype->text);
  }
  info.dtype = *dt;

  TS_CHECK(shape->kind == Kind::Array, "{}: tensor '{}': shape must be an array but is {}", ctx, name,
           json::kind_name(shape->kind));
  for (const auto& d : shape->items) {
    const auto dim = json::as_uint64(d);
    TS_CHECK(dim && *dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             "{}: tensor '{}': shape entry {} is not a non-negative integer", ctx, name,
             d.kind == Kind::Number ? d.text : json::kind_name(d.kind));
    info.shape.push_back(static_cast<int64_t>(*dim));
  }

  TS_CHECK(offsets->kind == Kind::Array && offsets->items.size() == 2,
           "{}: tensor '{}': data_offsets must be an array [begin, end]", ctx, name);
  const auto begin = json::as_uint64(offsets->items[0]);
  const auto end = json::as_uint64(offsets->items[1]);
  TS_CHECK(begin && end, "{}: tensor '{}': data_offsets must hold two non-negative integers", ctx, name);
  info.begin = *begin;
  info.end = *end;
  TS_CHECK(info.begin <= info.end, "{}: tensor '{}': data_offsets [{}, {}] end before they begin", ctx, name,
           info.begin, info.end);
  TS_CHECK(info.end <= data_size,
           "{}: tensor '{}': data_offsets [{}, {}] reach past the end of the {}-byte data section; the file is "
           "truncated or its header corrupt", ctx, name, info.begin, info.end, data_size);
  const auto bytes = byte_size(info.shape, element_size(info.dtype));
  TS_CHECK(bytes && *bytes == info.end - info.begin,
           "{}: tensor '{}': {} {} needs {} bytes but data_offsets [{}, {}] hold {}", ctx, name, dtype->text,
           shape_str(info.shape), bytes ? fmt::format("{}", *bytes) : std::string("more than 2^64"), info.begin,
           info.end, info.end - info.begin);
  return info;
}

}  // namespace

std::string_view safetensors_dtype(DType dtype) {
  for (const auto& c : kCodes) {
    if (c.dtype == dtype) return c.code;
  }
  TS_ERROR("safetensors: dtype {} has no safetensors code", dtype_name(dtype));
}

std::optional<DType> dtype_from_safetensors(std::string_view code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.dtype;
  }
  return std::nullopt;
}

std::string encode_header(const SafetensorsHeader& header, std::string_view context) {
  std::string out = "{";
  bool first = true;
  if (!header.metadata.empty()) {
    out += "\"__metadata__\":{";
    for (const auto& [key, value] : header.metadata) {
      TS_CHECK(json::is_valid_utf8(key) && json::is_valid_utf8(value),
               "{}: metadata entry '{}' is not valid UTF-8 (safetensors headers are UTF-8 JSON)", context, key);
      if (!first) out += ',';
      first = false;
      json::append_string(out, key);
      out += ':';
      json::append_string(out, value);
    }
    out += '}';
    first = false;
  }
  for (const auto& t : header.tensors) {
    TS_CHECK(t.name != "__metadata__", "{}: a tensor cannot be named \"__metadata__\" (the header's metadata key)",
             context);
    TS_CHECK(json::is_valid_utf8(t.name), "{}: tensor name '{}' is not valid UTF-8", context, t.name);
    if (!first) out += ',';
    first = false;
    json::append_string(out, t.name);
    out += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", safetensors_dtype(t.dtype),
                       fmt::join(t.shape, ","), t.begin, t.end);
  }
  out += '}';
  out.resize((out.size() + 7) / 8 * 8, ' ');
  return out;
}

SafetensorsHeader decode_header(std::string_view text, uint64_t data_size, std::string_view context) {
  const std::string json_context = fmt::format("{}: header", context);
  const json::Value root = json::parse(text, json_context);
  TS_CHECK(root.kind == json::Value::Kind::Object, "{}: header: expected a JSON object but got {}", context,
           json::kind_name(root.kind));

  SafetensorsHeader header;
  for (const auto& [name, value] : root.members) {
    if (name == "__metadata__") {
      TS_CHECK(value.kind == json::Value::Kind::Object, "{}: header: __metadata__ must be an object but is {}",
               context, json::kind_name(value.kind));
      for (const auto& [key, item] : value.members) {
        TS_CHECK(item.kind == json::Value::Kind::String,
                 "{}: header: __metadata__ entry '{}' must be a string but is {}", context, key,
                 json::kind_name(item.kind));
        header.metadata.emplace(key, item.text);
      }
      continue;
    }
    header.tensors.push_back(decode_tensor(name, value, data_size, context));
  }

  // The data section must be tiled exactly, as the reference implementation requires.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : header.tensors) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : by_offset) {
    TS_CHECK(t->begin >= at, "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data section", context,
             prev != nullptr ? prev->name : "", prev != nullptr ? prev->begin : 0, at, t->name, t->begin, t->end);
    TS_CHECK(t->begin == at, "{}: gap of {} bytes in the data section before tensor '{}' [{}, {}]", context,
             t->begin - at, t->name, t->begin, t->end);
    at = t->end;
    prev = t;
  }
  TS_CHECK(at == data_size, "{}: {} bytes after the last tensor's data ({} of the {}-byte data section are used); the "
           "file is corrupt", context, data_size - at, at, data_size);
  return header;
}

}  // namespace ts::io
