#include "control/tetherctl/top_command.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/tetherctl/admin_http.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {
namespace {

std::string Ms(double ms) {
  return ms < 10 ? absl::StrFormat("%.2fms", ms) : absl::StrFormat("%.0fms", ms);
}

// Field: `key` of `j` when it has the right type, else `fallback` (never
// throws, unlike json::value on a wrong type).
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
double Num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

std::string OrPlaintext(const std::string& id) { return id.empty() ? "unauthenticated" : id; }

}  // namespace

absl::StatusOr<std::vector<TapRecord>> ParseRequests(absl::string_view json, uint64_t* last) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("requests") || !j["requests"].is_array() ||
      !j.contains("seq") || !j["seq"].is_number_unsigned()) {
    return absl::InvalidArgumentError("not a /requests answer");
  }
  *last = j["seq"].get<uint64_t>();
  std::vector<TapRecord> out;
  for (const nlohmann::json& r : j["requests"]) {
    if (!r.is_object()) return absl::InvalidArgumentError("a request is not an object");
    TapRecord t;
    t.seq = static_cast<uint64_t>(std::max(0.0, Num(r, "seq")));
    t.direction = Str(r, "direction");
    t.client = Str(r, "client");
    t.server = Str(r, "server");
    t.method = Str(r, "method");
    t.path = Str(r, "path");
    const double status = Num(r, "status");
    t.status = status >= 0 && status <= 999 ? static_cast<int>(status) : 0;
    t.duration_ms = Num(r, "duration_ms");
    if (r.contains("grpc_status")) {
      const double grpc = Num(r, "grpc_status");
      t.grpc_status = grpc >= 0 && grpc <= 16 ? static_cast<int>(grpc) : 2;  // else UNKNOWN
    }
    out.push_back(std::move(t));
  }
  return out;
}

void TopTable::Add(const TapRecord& r) {
  TopRow& row = rows_[{OrPlaintext(r.client), OrPlaintext(r.server), r.direction, r.method, r.path}];
  if (row.count == 0) {
    row.source = OrPlaintext(r.client);
    row.destination = OrPlaintext(r.server);
    row.seen_at = r.direction;
    row.method = r.method;
    row.path = r.path;
    row.best_ms = r.duration_ms;
    row.worst_ms = r.duration_ms;
  }
  ++row.count;
  // As the proxies classify: no answer, a 5xx or a gRPC error fails.
  if (r.status > 0 && r.status < 500 && r.grpc_status <= 0) ++row.successes;
  row.best_ms = std::min(row.best_ms, r.duration_ms);
  row.worst_ms = std::max(row.worst_ms, r.duration_ms);
  row.last_ms = r.duration_ms;
}

std::vector<TopRow> TopTable::Rows() const {
  std::vector<TopRow> out;
  for (const auto& [key, row] : rows_) out.push_back(row);
  std::stable_sort(out.begin(), out.end(),
                   [](const TopRow& a, const TopRow& b) { return a.count > b.count; });
  return out;
}

int RunTop(const std::vector<std::string>& proxies, const TopOptions& options, std::ostream& out,
           std::ostream& err) {
  std::vector<uint64_t> since(proxies.size(), 0);
  TopTable table;
  for (int round = 1;; ++round) {
    size_t read = 0;
    for (size_t i = 0; i < proxies.size(); ++i) {
      absl::StatusOr<AdminResponse> r =
          AdminGet(proxies[i], absl::StrCat("/requests?since=", since[i]));
      absl::StatusOr<std::vector<TapRecord>> records =
          !r.ok()                   ? absl::StatusOr<std::vector<TapRecord>>(r.status())
          : r->http.status != 200   ? absl::NotFoundError(absl::StrCat("HTTP ", r->http.status))
                                    : ParseRequests(r->http.body, &since[i]);
      if (!records.ok()) {
        err << "tetherctl: proxy " << proxies[i] << ": " << records.status().message() << "\n";
        continue;
      }
      ++read;
      for (const TapRecord& t : *records) table.Add(t);
    }
    if (read == 0) return 1;
    std::vector<std::vector<std::string>> rows = {{"SOURCE", "DESTINATION", "SEEN AT", "METHOD",
                                                   "PATH", "COUNT", "BEST", "WORST", "LAST",
                                                   "SUCCESS"}};
    for (const TopRow& row : table.Rows()) {
      rows.push_back({row.source, row.destination, row.seen_at, row.method, row.path,
                      absl::StrCat(row.count), Ms(row.best_ms), Ms(row.worst_ms), Ms(row.last_ms),
                      absl::StrFormat("%.1f%%", 100.0 * row.successes / row.count)});
    }
    if (options.redraw) out << "\x1b[H\x1b[2J";
    if (rows.size() == 1) {
      out << "no HTTP requests yet (recording started with this command)\n";
    } else {
      PrintTable(out, rows);
    }
    out.flush();
    if (options.iterations > 0 && round >= options.iterations) return 0;
    options.sleep(options.interval);
  }
}

}  // namespace tether::tetherctl
