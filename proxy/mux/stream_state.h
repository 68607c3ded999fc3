// StreamState: what one carried stream's two owners share: the MuxStream that
// the consumer holds (a Transport) and the MuxChannel whose nghttp2 session
// carries it. Private to proxy/mux; single-threaded (the channel's
// dispatcher thread).
//
//   consumer --Read/Write--> MuxStream --state_--> StreamState <--streams_-- MuxChannel
//
// Ownership: shared. The channel keeps a stream's state while nghttp2 has the
// stream open, or while the MuxStream is alive (so that bytes read later
// still return flow-control credit); the MuxStream keeps it for as long as it
// lives, so that it still answers (kEof, kError "mux_reset") after the
// channel is gone. `channel` is null once the channel has let go.
//
// Readiness (see mux_stream.h for the contract): `notify_fd` is the
// MuxStream's eventfd. Invariant: Readable() implies the eventfd counter is
// non-zero (`signaled`), so a consumer that starts watching late, or
// re-enables its FileEvent, sees the stream readable.
#ifndef TETHER_PROXY_MUX_STREAM_STATE_H_
#define TETHER_PROXY_MUX_STREAM_STATE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/mux/stream_headers.h"

namespace tether::proxy {

class MuxChannel;

namespace mux_internal {

// ByteQueue: a FIFO of bytes in one std::string, consumed from the front.
class ByteQueue {
 public:
  size_t size() const { return data_.size() - offset_; }
  bool empty() const { return size() == 0; }
  const uint8_t* front() const { return reinterpret_cast<const uint8_t*>(data_.data()) + offset_; }
  void Append(const uint8_t* p, size_t n) { data_.append(reinterpret_cast<const char*>(p), n); }
  // Pop drops `n` (<= size()) bytes from the front.
  void Pop(size_t n) {
    offset_ += n;
    if (offset_ == data_.size()) {
      data_.clear();
      offset_ = 0;
    } else if (offset_ >= 64 * 1024 && offset_ * 2 >= data_.size()) {
      data_.erase(0, offset_);
      offset_ = 0;
    }
  }
  void Clear() {
    std::string().swap(data_);
    offset_ = 0;
  }

 private:
  std::string data_;
  size_t offset_ = 0;
};

struct StreamState {
  MuxChannel* channel = nullptr;  // null once the channel let go of the stream
  int32_t id = 0;
  bool server = false;             // accepted by a server-role channel
  bool wait_for_response = false;  // client: Handshake waits for the response
  StreamHeaders headers;
  size_t header_bytes = 0;  // received header bytes (bounded)
  int method_connect = 0;   // server: 1 if :method was CONNECT, -1 if another

  // Receive side: DATA delivered by nghttp2, not Read yet (bounded by the
  // stream window: credit returns only as the consumer reads).
  ByteQueue recv;
  bool remote_eof = false;  // peer's END_STREAM (of an accepted stream) seen

  // Send side: bytes written by the consumer, not yet taken by nghttp2.
  ByteQueue send;
  size_t send_limit = 0;
  bool local_shut = false;     // ShutdownWrite (or implicit, on orphaning)
  bool end_sent = false;       // our END_STREAM went out
  bool deferred = false;       // the data source returned NGHTTP2_ERR_DEFERRED
  bool write_blocked = false;  // a Write returned kWouldBlock: owe a write edge

  // Response: server: Accept/Refuse submitted; client: final response seen.
  bool responded = false;
  bool refused = false;  // server: refused by Refuse(); client: non-2xx
  int status = 0;        // :status sent (server) or received (client)

  bool closed = false;    // nghttp2 closed the stream
  bool orphaned = false;  // the MuxStream is gone (or will never exist)
  std::string error;  // a stable word once the stream failed (see mux_stream.h)

  int notify_fd = -1;  // the MuxStream's eventfd; -1 without one
  bool signaled = false;
  bool read_edge = false;  // edges owed, raised at the end of the channel's turn
  bool write_edge = false;
  bool dirty = false;  // queued in the channel's dirty list

  bool Readable() const {
    return !recv.empty() || remote_eof || !error.empty() || (wait_for_response && responded);
  }
};

// Raise makes the eventfd report the owed edges now: a readable edge (an
// eventfd write: EPOLLIN wake-up) and/or a writable edge (an eventfd read of
// a non-zero counter: EPOLLOUT wake-up), keeping the invariant above.
void Raise(StreamState& s, bool read, bool write);

}  // namespace mux_internal
}  // namespace tether::proxy

#endif  // TETHER_PROXY_MUX_STREAM_STATE_H_
