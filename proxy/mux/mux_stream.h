// MuxStream: one connection carried as one HTTP/2 stream of a MuxChannel,
// seen as a Transport, so that the Relay (or Http1Forwarder) moves its bytes
// unchanged.
//
//   absl::StatusOr<std::unique_ptr<MuxStream>> s = channel->OpenStream({"10.0.3.7:8080", "tcp"});
//   if (!s.ok()) { /* channel full or closing: open another channel */ }
//   auto relay = std::make_unique<Relay>(dispatcher, std::move(app), *std::move(s),
//                                        Relay::Upstream::kConnected, RelayOptions{}, on_close);
//   relay->Start();
//
// Semantics: DATA frames carry the bytes; our END_STREAM is ShutdownWrite
// (FIN); the peer's END_STREAM is Read's kEof; Abort sends RST_STREAM
// (CANCEL), which the peer sees as kError "stream_reset". Destroying a
// MuxStream without Abort is an orderly close, as close() is for a socket:
// bytes already written still go out, then END_STREAM; if the peer has not
// finished sending it then gets RST_STREAM (its Write fails, its Read still
// ends with kEof); unread bytes at destruction reset the stream at once.
//
// Errors (error(), stable words): "mux_reset" (the channel died: transport
// error or EOF, protocol error, GOAWAY with an error), "stream_reset" (the
// peer reset the stream), "mux_refused" (the server refused: non-2xx status,
// REFUSED_STREAM, the stream was above a GOAWAY's last stream id, or the
// channel died before the request went out: safe to retry elsewhere), "aborted" (Abort() here), "write_after_shutdown".
// After an error Read still returns the bytes that arrived before it, then
// kEof if the peer had finished sending, else kError; Write returns kError.
//
// Readiness contract, for consumers that wait with edge-triggered FileEvents
// on fd() (an eventfd, EFD_NONBLOCK, owned by the MuxStream):
//   * Readable edge: whenever bytes, the peer's END_STREAM, an error or (with
//     wait_for_response) the response arrive, the eventfd is written, which
//     epoll reports as a new readable edge (coalesced: at most one per
//     channel turn). Watch kRead (or kRead | kWrite) and Read until
//     kWouldBlock, as for a socket.
//   * Writable edge: after a Write returned kWouldBlock, once half of the
//     send buffer is free again (or the stream failed) the eventfd is read,
//     which epoll reports as a writable edge. Watch kWrite (or both).
//   * The fd's level is never *less* ready than the stream: while Read would
//     return something other than kWouldBlock the eventfd stays readable
//     (so a late FileEvent, or SetEnabled, reports it at once); it may stay
//     readable after that (spurious readiness: Read says kWouldBlock). It is
//     always writable as an fd; only the edges mean anything.
//   * Never read or write the eventfd yourself.
// Flow control: a stream receives at most the channel's stream_window bytes
// ahead of its consumer: credit (WINDOW_UPDATE) returns only as Read takes
// bytes, so a slow consumer slows the sender. Write buffers at most
// stream_send_buffer bytes (a partial kOk, then kWouldBlock).
//
// Threading: the channel's dispatcher thread only. The MuxStream may outlive
// its channel (every call then answers from what it already has).
#ifndef TETHER_PROXY_MUX_MUX_STREAM_H_
#define TETHER_PROXY_MUX_MUX_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/mux/stream_headers.h"
#include "proxy/mux/stream_state.h"
#include "proxy/net/socket.h"
#include "proxy/net/transport.h"

namespace tether::proxy {

class MuxStream final : public Transport {
 public:
  ~MuxStream() override;
  MuxStream(const MuxStream&) = delete;
  MuxStream& operator=(const MuxStream&) = delete;

  // Handshake: client side: kOk at once (bytes may go out before the
  // server's answer; a refusal then shows as kError "mux_refused"), unless
  // opened with wait_for_response: then kWouldBlock until the response, kOk
  // on 2xx. Server side: accepts the stream (as Accept()) and returns kOk.
  // kError with error() set if the stream already failed.
  IoStatus Handshake() override;

  // Read: bytes the peer sent, in order; kEof after the peer's END_STREAM;
  // kWouldBlock when nothing is buffered; kError as described above. Every
  // byte read returns its flow-control credit to the peer.
  IoStatus Read(uint8_t* buf, size_t len, size_t* n) override;

  // Write copies up to the free part of the send buffer (*n may be < len);
  // kWouldBlock when it is full (a writable edge follows); kError after an
  // error or after ShutdownWrite.
  IoStatus Write(const uint8_t* buf, size_t len, size_t* n) override;

  // HasBufferedData: Read has bytes (the eventfd is readable then too).
  bool HasBufferedData() const override { return !state_->recv.empty(); }

  // ShutdownWrite: END_STREAM after every byte written so far; kOk (never
  // blocks); idempotent; kError if the stream already failed.
  IoStatus ShutdownWrite() override;

  // Abort resets the stream (RST_STREAM CANCEL; REFUSED_STREAM for a server
  // stream never accepted) and drops buffered bytes both ways.
  void Abort() override;

  int fd() const override { return notify_fd_.get(); }
  const std::string& error() const override { return state_->error; }

  // Accept (server side) answers 200: the stream is open both ways. False if
  // it was already answered or failed. Bytes written before go out after it.
  bool Accept();

  // Refuse (server side) answers `status` (e.g. 403, 502) and ends the
  // stream, or with status 0 resets it with REFUSED_STREAM. The client sees
  // kError "mux_refused" and response_status(). No-op once answered (use
  // Abort then).
  void Refuse(int status);

  // The headers the stream was opened with.
  const StreamHeaders& headers() const { return state_->headers; }
  // The HTTP/2 stream id (odd: opened by the client side).
  int32_t id() const { return state_->id; }
  // Client side: the response's :status, 0 before it arrived. Server side:
  // the status answered.
  int response_status() const { return state_->status; }
  // Client side: the response arrived (see response_status()).
  bool responded() const { return state_->responded; }

 private:
  friend class MuxChannel;
  MuxStream(std::shared_ptr<mux_internal::StreamState> state, UniqueFd notify_fd);

  std::shared_ptr<mux_internal::StreamState> state_;
  UniqueFd notify_fd_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_MUX_MUX_STREAM_H_
