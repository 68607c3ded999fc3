#include "control/kubernetes/reflector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tether::control::kubernetes {
namespace {

absl::Status HttpError(absl::string_view what, const HttpResult& r) {
  return absl::UnavailableError(absl::StrCat(what, ": HTTP ", r.status, " ", ApiErrorMessage(r)));
}

}  // namespace

std::string QueryEscape(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Reflector::Reflector(ReflectorOptions options, std::function<void()> on_change)
    : options_(std::move(options)), on_change_(std::move(on_change)) {}

size_t Reflector::size() const {
  MutexLock lock(&mu_);
  return store_.size();
}

bool Reflector::synced() const {
  MutexLock lock(&mu_);
  return synced_;
}

std::string Reflector::resource_version() const {
  MutexLock lock(&mu_);
  return resource_version_;
}

std::string Reflector::Status() const {
  MutexLock lock(&mu_);
  std::string out = absl::StrCat(KindName(options_.kind), ": ");
  if (synced_) {
    absl::StrAppend(&out, "synced, ", store_.size(), " objects at resourceVersion ",
                    resource_version_);
  } else {
    absl::StrAppend(&out, "not synced");
  }
  if (!last_error_.empty()) absl::StrAppend(&out, "; last error: ", last_error_);
  return out;
}

void Reflector::RecordError(const absl::Status& status) {
  MutexLock lock(&mu_);
  last_error_ =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   status.message());
}

void Reflector::Run(const std::atomic<bool>* stop, const Sleeper& sleep) {
  absl::Duration backoff = options_.initial_backoff;
  auto back_off = [&] {
    bool go_on = sleep(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
    return go_on;
  };
  bool need_list = true;
  while (!stop->load(std::memory_order_acquire)) {
    if (need_list) {
      absl::Status listed = List(stop);
      if (stop->load(std::memory_order_acquire)) return;
      if (!listed.ok()) {
        RecordError(listed);
        if (!back_off()) return;
        continue;
      }
      need_list = false;
      backoff = options_.initial_backoff;
    }
    const absl::Time watch_start = absl::Now();
    WatchEnd end = Watch(stop);
    if (stop->load(std::memory_order_acquire)) return;
    if (end.progressed) backoff = options_.initial_backoff;
    if (end.gone) {
      RecordError(end.status);
      need_list = true;
      // A server that says Gone to a fresh list's version: do not spin.
      if (!end.progressed && !back_off()) return;
      continue;
    }
    if (end.status.ok()) {
      // The server's timeout: watch again now, unless the server (or a proxy
      // before it) ends every watch at once.
      if (!end.progressed && absl::Now() - watch_start < absl::Seconds(1) && !back_off()) return;
      continue;
    }
    RecordError(end.status);
    need_list = end.lost_event;
    if (!back_off()) return;
  }
}

absl::Status Reflector::List(const std::atomic<bool>* stop) {
  const std::string what = absl::StrCat("listing ", CollectionPath(options_.kind));
  std::map<std::string, Object> fresh;
  std::string version;
  std::string cont;
  for (;;) {
    std::string path = absl::StrCat(CollectionPath(options_.kind), "?limit=", options_.page_size);
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", QueryEscape(cont));
    std::string body;
    auto sink = [&](absl::string_view piece) {
      if (body.size() + piece.size() > options_.max_page_bytes) {
        return absl::ResourceExhaustedError(
            absl::StrCat(what, ": a page is larger than ", options_.max_page_bytes, " bytes"));
      }
      body.append(piece.data(), piece.size());
      return absl::OkStatus();
    };
    absl::StatusOr<HttpResult> r = StreamApi(options_.api, path, options_.list_timeout, stop, sink);
    if (!r.ok())
      return absl::Status(r.status().code(), absl::StrCat(what, ": ", r.status().message()));
    if (r->status != 200) return HttpError(what, *r);
    absl::StatusOr<ObjectList> page = ParseObjectList(options_.kind, body);
    if (!page.ok())
      return absl::UnavailableError(absl::StrCat(what, ": ", page.status().message()));
    if (version.empty()) version = page->resource_version;
    for (Object& object : page->items) fresh.insert_or_assign(ObjectKey(object), std::move(object));
    if (fresh.size() > options_.max_objects) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, ": more than ", options_.max_objects, " objects"));
    }
    if (page->continue_token.empty()) break;
    cont = std::move(page->continue_token);
  }
  {
    MutexLock lock(&mu_);
    store_ = std::move(fresh);
    resource_version_ = version;
    synced_ = true;
  }
  if (on_change_) on_change_();
  return absl::OkStatus();
}

Reflector::WatchEnd Reflector::Watch(const std::atomic<bool>* stop) {
  const std::string what = absl::StrCat("watching ", CollectionPath(options_.kind));
  const std::string path = absl::StrCat(
      CollectionPath(options_.kind), "?watch=1&resourceVersion=", QueryEscape(resource_version()),
      "&allowWatchBookmarks=true&timeoutSeconds=",
      std::max<int64_t>(1, absl::ToInt64Seconds(options_.watch_timeout)));
  WatchEnd end;
  std::string buffer;
  size_t scanned = 0;
  auto sink = [&](absl::string_view piece) -> absl::Status {
    buffer.append(piece.data(), piece.size());
    size_t start = 0;
    for (;;) {
      size_t nl = buffer.find('\n', std::max(start, scanned));
      if (nl == std::string::npos) break;
      if (nl - start > options_.max_event_bytes) break;  // reported below
      absl::string_view line =
          absl::StripAsciiWhitespace(absl::string_view(buffer).substr(start, nl - start));
      start = nl + 1;
      if (line.empty()) continue;
      if (absl::Status s = HandleLine(line, end); !s.ok()) return s;
    }
    buffer.erase(0, start);
    scanned = buffer.size();
    if (buffer.size() > options_.max_event_bytes) {
      end.lost_event = true;
      return absl::ResourceExhaustedError(absl::StrCat(what, ": a watch event is larger than ",
                                                       options_.max_event_bytes, " bytes"));
    }
    return absl::OkStatus();
  };
  absl::StatusOr<HttpResult> r =
      StreamApi(options_.api, path, options_.watch_timeout + absl::Seconds(30), stop, sink);
  if (!r.ok()) {
    const absl::Status& s = r.status();
    end.status = absl::Status(s.code(), absl::StrContains(s.message(), what)
                                            ? std::string(s.message())
                                            : absl::StrCat(what, ": ", s.message()));
    return end;
  }
  if (r->status == 410) {
    end.gone = true;
    end.status = HttpError(what, *r);
    return end;
  }
  if (r->status != 200) {
    end.status = HttpError(what, *r);
    return end;
  }
  // A last event without its newline.
  absl::string_view rest = absl::StripAsciiWhitespace(buffer);
  if (!rest.empty()) end.status = HandleLine(rest, end);
  return end;
}

absl::Status Reflector::HandleLine(absl::string_view line, WatchEnd& end) {
  const std::string what = absl::StrCat("watching ", CollectionPath(options_.kind));
  absl::StatusOr<WatchEvent> event = ParseWatchEvent(options_.kind, line);
  if (!event.ok()) {
    end.lost_event = true;
    return absl::UnavailableError(absl::StrCat(what, ": ", event.status().message()));
  }
  switch (event->type) {
    case WatchEventType::kError:
      if (event->error_code == 410) end.gone = true;
      return absl::UnavailableError(absl::StrCat(what, ": ERROR event ", event->error_code, " ",
                                                 event->error_reason, ": ", event->error_message));
    case WatchEventType::kBookmark: {
      MutexLock lock(&mu_);
      resource_version_ = event->resource_version;
      end.progressed = true;
      return absl::OkStatus();
    }
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
    case WatchEventType::kDeleted:
      break;
  }
  std::string key = ObjectKey(*event->object);
  bool full = false;
  {
    MutexLock lock(&mu_);
    resource_version_ = event->resource_version;
    if (event->type == WatchEventType::kDeleted) {
      store_.erase(key);
    } else if (store_.size() >= options_.max_objects && store_.count(key) == 0) {
      full = true;
    } else {
      store_.insert_or_assign(std::move(key), *std::move(event->object));
    }
  }
  end.progressed = true;
  if (full) {
    RecordError(absl::ResourceExhaustedError(
        absl::StrCat(what, ": more than ", options_.max_objects, " objects; dropped ", key)));
    return absl::OkStatus();
  }
  if (on_change_) on_change_();
  return absl::OkStatus();
}

}  // namespace tether::control::kubernetes
