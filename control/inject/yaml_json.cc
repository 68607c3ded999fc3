#include "control/inject/yaml_json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <yaml-cpp/yaml.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace tether::control::inject {
namespace {

constexpr size_t kMaxYamlBytes = size_t{16} << 20;
// Kubernetes objects nest a dozen levels deep; a hostile file may nest
// thousands, which would otherwise exhaust the stack below.
constexpr int kMaxDepth = 100;

constexpr absl::string_view kStrTag = "tag:yaml.org,2002:str";

bool IsBool(absl::string_view s, bool* out_value) {
  static constexpr absl::string_view kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                                "True", "TRUE", "on",  "On",  "ON"};
  static constexpr absl::string_view kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                                 "False", "FALSE", "off", "Off", "OFF"};
  for (absl::string_view t : kTrue) {
    if (s == t) {
      *out_value = true;
      return true;
    }
  }
  for (absl::string_view f : kFalse) {
    if (s == f) {
      *out_value = false;
      return true;
    }
  }
  return false;
}

bool AllOf(absl::string_view s, absl::string_view alphabet) {
  return !s.empty() && s.find_first_not_of(alphabet) == absl::string_view::npos;
}

// ParseInteger accepts YAML 1.1 integers: decimal, 0x hex, 0o or 0-led
// octal, 0b binary, with an optional sign and '_' separators.
bool ParseInteger(absl::string_view s, Json* out) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string digits = absl::StrReplaceAll(s, {{"_", ""}});
  if (digits.empty() || s.front() == '_') return false;
  int base = 10;
  absl::string_view body = digits;
  if (absl::StartsWith(body, "0x")) {
    base = 16;
    body.remove_prefix(2);
    if (!AllOf(body, "0123456789abcdefABCDEF")) return false;
  } else if (absl::StartsWith(body, "0o")) {
    base = 8;
    body.remove_prefix(2);
    if (!AllOf(body, "01234567")) return false;
  } else if (absl::StartsWith(body, "0b")) {
    base = 2;
    body.remove_prefix(2);
    if (!AllOf(body, "01")) return false;
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;
    body.remove_prefix(1);
    if (!AllOf(body, "01234567")) return false;
  } else if (!AllOf(body, "0123456789")) {
    return false;
  }
  errno = 0;
  const std::string text(body);
  char* end = nullptr;
  const uint64_t magnitude = std::strtoull(text.c_str(), &end, base);
  if (errno == ERANGE || end != text.c_str() + text.size()) return false;
  if (negative) {
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *out = magnitude == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN
                                                             : -static_cast<int64_t>(magnitude);
  } else if (magnitude <= static_cast<uint64_t>(INT64_MAX)) {
    *out = static_cast<int64_t>(magnitude);
  } else {
    *out = magnitude;
  }
  return true;
}

// ParseFloat accepts [-+]?(.d+|d+(.d*)?)([eE][-+]?d+)? with a '.' or an
// exponent (an integer is ParseInteger's). .inf and .nan stay strings: JSON
// has no such numbers.
bool ParseFloat(absl::string_view s, Json* out) {
  absl::string_view rest = s;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) rest.remove_prefix(1);
  size_t i = 0;
  size_t int_digits = 0;
  while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) {
    ++i;
    ++int_digits;
  }
  bool dot = false;
  size_t frac_digits = 0;
  if (i < rest.size() && rest[i] == '.') {
    dot = true;
    ++i;
    while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) {
      ++i;
      ++frac_digits;
    }
  }
  if (int_digits + frac_digits == 0) return false;
  bool exponent = false;
  if (i < rest.size() && (rest[i] == 'e' || rest[i] == 'E')) {
    exponent = true;
    ++i;
    if (i < rest.size() && (rest[i] == '-' || rest[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) {
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) return false;
  }
  if (i != rest.size() || (!dot && !exponent)) return false;
  double value = 0;
  if (!absl::SimpleAtod(s, &value) || !std::isfinite(value)) return false;
  *out = value;
  return true;
}

std::string Where(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return absl::StrCat(" at line ", mark.line + 1, ", column ", mark.column + 1);
}

absl::StatusOr<Json> ToJson(const YAML::Node& node, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("YAML nests deeper than ", kMaxDepth, " levels", Where(node.Mark())));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      // "!" is a quoted scalar's tag; "?" a plain one's.
      if (tag == "!" || tag == kStrTag) return Json(node.Scalar());
      return ResolvePlainScalar(node.Scalar());
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<Json> value = ToJson(item, depth + 1);
        if (!value.ok()) return value.status();
        out.push_back(std::move(*value));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("a mapping key is not a string", Where(kv.first.Mark())));
        }
        absl::StatusOr<Json> value = ToJson(kv.second, depth + 1);
        if (!value.ok()) return value.status();
        out[kv.first.Scalar()] = std::move(*value);
      }
      return out;
    }
  }
  return Json(nullptr);
}

// NeedsQuotes: a string that a plain scalar would not read back as itself.
bool NeedsQuotes(const std::string& s) { return s.empty() || !ResolvePlainScalar(s).is_string(); }

// FitsLiteralBlock: yaml-cpp writes a "|" block correctly only for text that
// ends with exactly one newline and has no leading blank or odd characters.
bool FitsLiteralBlock(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n') return false;
  if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n') return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  return !absl::StrContains(s, " \n");
}

void EmitString(YAML::Emitter& out, const std::string& s) {
  if (s.find('\n') != std::string::npos) {
    out << (FitsLiteralBlock(s) ? YAML::Literal : YAML::DoubleQuoted) << s;
  } else if (NeedsQuotes(s)) {
    out << YAML::DoubleQuoted << s;
  } else {
    out << s;
  }
}

void Emit(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key;
        EmitString(out, key);
        out << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      return;
    case Json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const Json& item : value) Emit(out, item);
      out << YAML::EndSeq;
      return;
    case Json::value_t::string:
      EmitString(out, value.get<std::string>());
      return;
    case Json::value_t::null:
      out << YAML::Null;
      return;
    default:  // numbers and booleans: their JSON text is valid YAML
      out << value.dump();
      return;
  }
}

}  // namespace

Json ResolvePlainScalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return Json(nullptr);
  }
  bool b = false;
  if (IsBool(text, &b)) return Json(b);
  Json number;
  if (ParseInteger(text, &number) || ParseFloat(text, &number)) return number;
  return Json(text);
}

absl::StatusOr<std::vector<Json>> ParseYamlDocuments(absl::string_view text) {
  if (text.size() > kMaxYamlBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("YAML input is ", text.size(), " bytes, over the limit of ", kMaxYamlBytes));
  }
  std::vector<YAML::Node> nodes;
  try {
    const std::string copy(text);
    nodes = YAML::LoadAll(copy);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML: ", e.msg, Where(e.mark)));
  }
  std::vector<Json> docs;
  for (const YAML::Node& node : nodes) {
    if (node.IsNull()) continue;
    absl::StatusOr<Json> doc = ToJson(node, 0);
    if (!doc.ok()) return doc.status();
    docs.push_back(std::move(*doc));
  }
  return docs;
}

std::string EmitYamlDocuments(const std::vector<Json>& docs) {
  std::vector<std::string> parts;
  parts.reserve(docs.size());
  for (const Json& doc : docs) {
    YAML::Emitter out;
    out.SetIndent(2);
    out.SetSeqFormat(YAML::Block);
    Emit(out, doc);
    parts.push_back(absl::StrCat(out.c_str(), "\n"));
  }
  return absl::StrJoin(parts, "---\n");
}

}  // namespace tether::control::inject
