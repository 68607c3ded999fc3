#include "control/tetherctl/prom_text.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tether::tetherctl {
namespace {

bool NameStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == ':'; }
bool NameChar(char c) { return NameStart(c) || absl::ascii_isdigit(c); }

// ReadName reads a metric or label name at the start of *s.
bool ReadName(absl::string_view* s, std::string* out) {
  if (s->empty() || !NameStart(s->front())) return false;
  size_t n = 1;
  while (n < s->size() && NameChar((*s)[n])) ++n;
  out->assign(s->data(), n);
  s->remove_prefix(n);
  return true;
}

void SkipSpaces(absl::string_view* s) {
  while (!s->empty() && (s->front() == ' ' || s->front() == '\t')) s->remove_prefix(1);
}

bool ParseValue(absl::string_view v, double* out) {
  if (v == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (v == "+Inf" || v == "Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (v == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  return absl::SimpleAtod(v, out) && !std::isnan(*out);
}

// ReadLabels reads `{name="value",...}` at the start of *s.
absl::Status ReadLabels(absl::string_view* s, std::map<std::string, std::string>* out) {
  s->remove_prefix(1);  // '{'
  while (true) {
    SkipSpaces(s);
    if (s->empty()) return absl::InvalidArgumentError("unterminated label set");
    if (s->front() == '}') {
      s->remove_prefix(1);
      return absl::OkStatus();
    }
    std::string name;
    if (!ReadName(s, &name)) return absl::InvalidArgumentError("bad label name");
    SkipSpaces(s);
    if (s->empty() || s->front() != '=') return absl::InvalidArgumentError("expected '='");
    s->remove_prefix(1);
    SkipSpaces(s);
    if (s->empty() || s->front() != '"') return absl::InvalidArgumentError("expected '\"'");
    s->remove_prefix(1);
    std::string value;
    bool closed = false;
    while (!s->empty()) {
      char c = s->front();
      s->remove_prefix(1);
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\') {
        if (s->empty()) break;
        char e = s->front();
        s->remove_prefix(1);
        if (e == 'n') {
          value.push_back('\n');
        } else if (e == '\\' || e == '"') {
          value.push_back(e);
        } else {
          return absl::InvalidArgumentError(absl::StrCat("bad escape \\", std::string(1, e)));
        }
        continue;
      }
      value.push_back(c);
    }
    if (!closed) return absl::InvalidArgumentError("unterminated label value");
    if (!out->emplace(std::move(name), std::move(value)).second) {
      return absl::InvalidArgumentError("label given twice");
    }
    SkipSpaces(s);
    if (!s->empty() && s->front() == ',') s->remove_prefix(1);
  }
}

}  // namespace

const std::string& Sample::Label(const std::string& name) const {
  static const std::string* const kEmpty = new std::string();
  auto it = labels.find(name);
  return it == labels.end() ? *kEmpty : it->second;
}

absl::StatusOr<std::vector<Sample>> ParsePrometheusText(absl::string_view text) {
  std::vector<Sample> out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    absl::string_view s = line;
    SkipSpaces(&s);
    if (s.empty() || s.front() == '#') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", why));
    };
    Sample sample;
    if (!ReadName(&s, &sample.name)) return bad("expected a metric name");
    if (!s.empty() && s.front() == '{') {
      if (absl::Status st = ReadLabels(&s, &sample.labels); !st.ok()) return bad(st.message());
    }
    SkipSpaces(&s);
    std::vector<absl::string_view> fields = absl::StrSplit(s, ' ', absl::SkipEmpty());
    if (fields.empty() || fields.size() > 2) {
      return bad("expected a value and an optional timestamp");
    }
    if (!ParseValue(fields[0], &sample.value)) {
      return bad(absl::StrCat("bad value \"", fields[0], "\""));
    }
    int64_t timestamp = 0;
    if (fields.size() == 2 && !absl::SimpleAtoi(fields[1], &timestamp)) {
      return bad(absl::StrCat("bad timestamp \"", fields[1], "\""));
    }
    out.push_back(std::move(sample));
  }
  return out;
}

double SumSamples(const std::vector<Sample>& samples, absl::string_view name,
                  const std::map<std::string, std::string>& match) {
  double sum = 0;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) all = all && s.Label(k) == v;
    if (all) sum += s.value;
  }
  return sum;
}

}  // namespace tether::tetherctl
