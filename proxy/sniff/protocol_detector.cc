#include "proxy/sniff/protocol_detector.h"

#include <algorithm>
#include <cstring>

namespace tether::proxy {
namespace {

// Reader: bounds-checked big-endian reads over a span.
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> data) : data_(data) {}
  bool U8(uint8_t* out) {
    if (data_.size() < 1) return false;
    *out = data_[0];
    data_.remove_prefix(1);
    return true;
  }
  bool U16(uint16_t* out) {
    if (data_.size() < 2) return false;
    *out = static_cast<uint16_t>(data_[0] << 8 | data_[1]);
    data_.remove_prefix(2);
    return true;
  }
  bool U24(uint32_t* out) {
    if (data_.size() < 3) return false;
    *out = static_cast<uint32_t>(data_[0]) << 16 | data_[1] << 8 | data_[2];
    data_.remove_prefix(3);
    return true;
  }
  bool Skip(size_t n) {
    if (data_.size() < n) return false;
    data_.remove_prefix(n);
    return true;
  }
  // Sub takes `n` bytes as a new reader.
  bool Sub(size_t n, Reader* out) {
    if (data_.size() < n) return false;
    *out = Reader(data_.subspan(0, n));
    data_.remove_prefix(n);
    return true;
  }
  bool U8Prefixed(Reader* out) {
    uint8_t n = 0;
    return U8(&n) && Sub(n, out);
  }
  bool U16Prefixed(Reader* out) {
    uint16_t n = 0;
    return U16(&n) && Sub(n, out);
  }
  bool empty() const { return data_.empty(); }
  absl::Span<const uint8_t> rest() const { return data_; }

 private:
  absl::Span<const uint8_t> data_;
};

constexpr uint8_t kHandshakeRecord = 0x16;
constexpr uint8_t kClientHello = 0x01;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;

void ParseExtensions(Reader exts, Detection* d) {
  while (!exts.empty()) {
    uint16_t type = 0;
    Reader body(absl::Span<const uint8_t>{});
    if (!exts.U16(&type) || !exts.U16Prefixed(&body)) return;
    if (type == kExtAlpn) {
      Reader list(absl::Span<const uint8_t>{});
      if (!body.U16Prefixed(&list)) continue;
      while (!list.empty()) {
        Reader name(absl::Span<const uint8_t>{});
        if (!list.U8Prefixed(&name)) break;
        auto n = name.rest();
        if (n.size() == strlen(kTetherAlpn) && memcmp(n.data(), kTetherAlpn, n.size()) == 0) {
          d->tether_alpn = true;
        }
      }
    } else if (type == kExtServerName) {
      Reader list(absl::Span<const uint8_t>{});
      if (!body.U16Prefixed(&list)) continue;
      uint8_t name_type = 0;
      Reader name(absl::Span<const uint8_t>{});
      if (list.U8(&name_type) && name_type == 0 && list.U16Prefixed(&name)) {
        auto n = name.rest();
        d->sni.assign(reinterpret_cast<const char*>(n.data()), std::min<size_t>(n.size(), 255));
      }
    } else if (type == kExtSupportedVersions) {
      Reader versions(absl::Span<const uint8_t>{});
      if (!body.U8Prefixed(&versions)) continue;
      uint16_t v = 0;
      while (versions.U16(&v)) {
        // Skip GREASE values (0x?a?a).
        if ((v & 0x0f0f) == 0x0a0a) continue;
        d->max_version = std::max(d->max_version, v);
      }
    }
  }
}

}  // namespace

Detection DetectProtocol(absl::Span<const uint8_t> data) {
  Detection d;
  if (data.empty()) return d;
  if (data[0] != kHandshakeRecord) {
    d.kind = Detection::kPlaintext;
    return d;
  }
  if (data.size() < 5) {
    // A TLS record header needs 5 bytes; a byte 0x16 alone decides nothing,
    // unless what follows already rules TLS out.
    if (data.size() >= 2 && data[1] != 0x03) d.kind = Detection::kPlaintext;
    return d;
  }
  Reader r(data);
  uint8_t type = 0, major = 0, minor = 0;
  uint16_t record_len = 0;
  r.U8(&type);
  r.U8(&major);
  r.U8(&minor);
  r.U16(&record_len);
  if (major != 0x03 || minor > 0x04 || record_len == 0 || record_len > 16384 + 2048) {
    d.kind = Detection::kPlaintext;
    return d;
  }
  if (r.rest().size() < 4) return d;  // need the handshake header
  uint8_t msg_type = 0;
  uint32_t msg_len = 0;
  r.U8(&msg_type);
  r.U24(&msg_len);
  if (msg_type != kClientHello) {
    d.kind = Detection::kPlaintext;
    return d;
  }
  const size_t in_record = record_len - 4;
  if (msg_len > in_record) {
    // The ClientHello continues in another record: TLS, details unknown.
    d.kind = Detection::kTls;
    return d;
  }
  if (r.rest().size() < msg_len) return d;  // need the whole ClientHello
  d.kind = Detection::kTls;
  Reader hello(absl::Span<const uint8_t>{});
  r.Sub(msg_len, &hello);
  uint16_t legacy_version = 0;
  Reader skip(absl::Span<const uint8_t>{});
  if (!hello.U16(&legacy_version) || !hello.Skip(32) || !hello.U8Prefixed(&skip) ||
      !hello.U16Prefixed(&skip) || !hello.U8Prefixed(&skip)) {
    return d;
  }
  d.max_version = legacy_version;
  Reader exts(absl::Span<const uint8_t>{});
  if (hello.U16Prefixed(&exts)) ParseExtensions(exts, &d);
  return d;
}

}  // namespace tether::proxy
