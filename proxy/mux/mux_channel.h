// MuxChannel: many carried connections over one HTTP/2 connection between
// two Tether proxies (in production a TlsTransport with ALPN "tether-mux"),
// as Linkerd does: an app that opens a connection per request then pays no
// TLS handshake per request. One nghttp2 session (client or server role) on
// one Dispatcher; each carried connection is one stream (see stream_headers.h
// for the wire form, mux_stream.h for the stream as a Transport).
//
//   // client proxy, once per peer (pool the channel; open another when full)
//   auto ch = std::make_unique<MuxChannel>(dispatcher, std::move(tls), MuxRole::kClient,
//                                          MuxChannelOptions{}, nullptr,
//                                          [&](absl::string_view error) { /* drop ch */ });
//   ch->Start();
//   if (ch->CanOpenStream()) {
//     absl::StatusOr<std::unique_ptr<MuxStream>> s = ch->OpenStream({"10.0.3.7:8080", "tcp"});
//   }
//
//   // server proxy, per accepted "tether-mux" connection
//   auto ch = std::make_unique<MuxChannel>(
//       dispatcher, std::move(tls), MuxRole::kServer, MuxChannelOptions{},
//       [&](std::unique_ptr<MuxStream> s, const StreamHeaders& h) {
//         if (!Allowed(h.authority)) return s->Refuse(403);  // or just drop s
//         StartRelay(std::move(s), h.authority);             // Handshake() accepts it
//       },
//       on_close);
//   ch->Start();
//
// Lifecycle: Start() -> transport Handshake() -> HTTP/2 preface and SETTINGS
// -> streams -> closed. The channel closes (on_close) when
//   * the transport fails or ends, the peer breaks the protocol, or a GOAWAY
//     with an error arrives: error() is the transport's word, "eof",
//     "protocol_error" or "goaway"; every stream not finished fails with
//     "mux_reset";
//   * or, gracefully (error() empty), after Drain() here or a GOAWAY
//     (NO_ERROR) from the peer, once the last open stream finished.
// on_close runs once, from a dispatcher callback (never from a method call),
// after the transport was closed; the owner may destroy the channel inside
// it. Destroying the channel earlier aborts the transport and fails the
// open streams with "mux_reset" (no on_close). Streams (MuxStreams) may
// outlive the channel. The owner must not destroy the channel inside
// on_stream.
//
// Flow control and memory: each stream's receive window is
// options.stream_window with automatic WINDOW_UPDATE off: credit returns as
// the stream's consumer Reads (nghttp2_session_consume). The connection
// window is max_concurrent_streams x stream_window, so stalled streams never
// stall the others; memory per channel is bounded by that plus one send
// buffer per stream plus the output buffer (64 KiB).
//
// Timeouts (handshake, idle channel, idle stream) and keepalive PINGs are the
// owner's: see active_streams().
//
// Threading: construct, call and destroy on the dispatcher's thread.
#ifndef TETHER_PROXY_MUX_MUX_CHANNEL_H_
#define TETHER_PROXY_MUX_MUX_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxy/event/dispatcher.h"
#include "proxy/mux/mux_stream.h"
#include "proxy/mux/stream_headers.h"
#include "proxy/mux/stream_state.h"
#include "proxy/net/transport.h"

struct nghttp2_session;

namespace tether::proxy {

inline constexpr char kMuxAlpn[] = "tether-mux";

enum class MuxRole { kClient, kServer };

struct MuxChannelOptions {
  // Bytes a stream may receive ahead of its consumer (its HTTP/2 window).
  uint32_t stream_window = 256 * 1024;
  // Bytes a stream's Write may buffer before kWouldBlock.
  size_t stream_send_buffer = 64 * 1024;
  // SETTINGS_MAX_CONCURRENT_STREAMS we announce, and the most streams we
  // open (client) or hold (server: beyond it new streams are refused).
  uint32_t max_concurrent_streams = 1024;
  // Largest request/response header block accepted (bytes of names+values).
  size_t max_header_bytes = 8 * 1024;
  // Transport reads per event before yielding to other connections.
  int max_reads_per_event = 16;
};

struct MuxOpenOptions {
  // Handshake() waits for the server's answer (one round trip) instead of
  // sending at once; lets the caller retry a refused stream elsewhere.
  bool wait_for_response = false;
};

class MuxChannel {
 public:
  using StreamCallback =
      std::function<void(std::unique_ptr<MuxStream> stream, const StreamHeaders& headers)>;
  using CloseCallback = std::function<void(absl::string_view error)>;

  // MuxChannel takes the transport (Handshake() not yet done is fine).
  // `on_stream` (server role; may be null for a client) gets every new stream
  // whose request is a well-formed CONNECT; dropping the MuxStream without
  // Accept/Handshake refuses it (REFUSED_STREAM).
  MuxChannel(Dispatcher& dispatcher, std::unique_ptr<Transport> transport, MuxRole role,
             const MuxChannelOptions& options, StreamCallback on_stream, CloseCallback on_close);
  ~MuxChannel();
  MuxChannel(const MuxChannel&) = delete;
  MuxChannel& operator=(const MuxChannel&) = delete;

  // Start registers the transport with the dispatcher; the handshake and the
  // HTTP/2 preface follow from its events. Call once.
  void Start();

  // OpenStream (client role) opens a stream to `headers.authority`. Usable
  // at once (before the transport handshake is done too). Unavailable when
  // !CanOpenStream(); ResourceExhausted if no eventfd could be made.
  absl::StatusOr<std::unique_ptr<MuxStream>> OpenStream(const StreamHeaders& headers,
                                                        const MuxOpenOptions& options = {});

  // CanOpenStream: a client channel that is not closing, not draining, not
  // told GOAWAY, below both sides' concurrent stream limits and not out of
  // stream ids. When false, open a new channel to the peer.
  bool CanOpenStream() const;

  // Drain sends GOAWAY: no new streams (the peer's new ones are refused, as
  // "mux_refused"); open streams finish; then the channel closes cleanly.
  void Drain();

  // active_streams: streams the channel still tracks: open in HTTP/2, or
  // finished but held by a consumer with bytes or an end still to read.
  size_t active_streams() const { return streams_.size(); }
  // open_streams: streams HTTP/2 still has open.
  size_t open_streams() const { return open_streams_; }
  bool draining() const { return draining_ || goaway_received_; }
  bool closed() const { return state_ == State::kClosing || state_ == State::kClosed; }
  MuxRole role() const { return role_; }
  // The stable word for why the channel closed (empty: gracefully, or open).
  const std::string& error() const { return error_; }

 private:
  friend class MuxStream;
  friend struct MuxCallbacks;  // the nghttp2 callbacks (mux_session.cc)
  using StreamState = mux_internal::StreamState;
  enum class State { kHandshaking, kOpen, kClosing, kClosed };

  void OnEvent();
  void DriveHandshake();
  void ReadInput();
  void Flush();
  // DeliverNewStreams hands new streams to on_stream; false if that
  // destroyed the channel.
  bool DeliverNewStreams();
  void RaiseDirty();
  // Fail closes the channel with `error` (empty: gracefully) at the end of
  // this turn; streams not finished fail with "mux_reset" now.
  void Fail(absl::string_view error);
  void DetachStreams();
  void Finish();  // on_close; *this may be gone
  void ScheduleFlush();
  void MarkDirty(StreamState& s, bool read, bool write);
  void Forget(StreamState& s);  // drop from streams_

  // For MuxStream (the consumer's calls) and the callbacks.
  void Consume(StreamState& s, size_t n);
  void ResumeData(StreamState& s);
  bool AcceptStream(StreamState& s);
  void RefuseStream(StreamState& s, int status);
  void ResetStream(StreamState& s, uint32_t error_code);
  void AbortStream(StreamState& s);
  void StreamGone(StreamState& s);
  void DiscardReceived(StreamState& s);

  Dispatcher& dispatcher_;
  const MuxRole role_;
  const MuxChannelOptions options_;
  StreamCallback on_stream_;
  CloseCallback on_close_;
  std::unique_ptr<Transport> transport_;
  nghttp2_session* session_ = nullptr;
  State state_ = State::kHandshaking;
  std::string error_;
  bool started_ = false;
  bool in_event_ = false;
  bool flush_scheduled_ = false;
  bool draining_ = false;
  bool goaway_received_ = false;
  std::string goaway_error_;  // "protocol_error" (we sent one) or "goaway" (we got one)
  bool* destroyed_ = nullptr;  // set while a user callback runs
  size_t open_streams_ = 0;
  std::string out_;  // bytes from nghttp2_session_mem_send not yet written
  size_t out_offset_ = 0;
  absl::flat_hash_map<int32_t, std::shared_ptr<StreamState>> streams_;
  std::vector<std::shared_ptr<StreamState>> new_streams_;  // server: for on_stream
  std::vector<std::shared_ptr<StreamState>> dirty_;        // edges owed
  std::unique_ptr<FileEvent> event_;  // last: leaves epoll before the transport closes
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_MUX_MUX_CHANNEL_H_
