#include "proxy/mux/mux_channel.h"

#include <algorithm>
#include <string>
#include <utility>

#include <nghttp2/nghttp2.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tether::proxy {

// mux_session.cc
nghttp2_session* NewMuxSession(MuxChannel& channel);
ssize_t MuxReadData(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                    uint32_t* data_flags, nghttp2_data_source* source, void* user_data);

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Output pulled from nghttp2 before it must be written: bounds the channel's
// own buffer (nghttp2 then leaves DATA in the streams' send buffers).
constexpr size_t kMaxOutput = 64 * 1024;

nghttp2_nv Header(absl::string_view name, absl::string_view value) {
  return nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                    const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                    name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

MuxChannel::MuxChannel(Dispatcher& dispatcher, std::unique_ptr<Transport> transport, MuxRole role,
                       const MuxChannelOptions& options, StreamCallback on_stream,
                       CloseCallback on_close)
    : dispatcher_(dispatcher),
      role_(role),
      options_(options),
      on_stream_(std::move(on_stream)),
      on_close_(std::move(on_close)),
      transport_(std::move(transport)) {
  session_ = NewMuxSession(*this);
  if (session_ == nullptr) {
    state_ = State::kClosing;  // reported from the first event after Start
    error_ = "nghttp2_init_failed";
  }
}

MuxChannel::~MuxChannel() {
  if (destroyed_ != nullptr) *destroyed_ = true;
  event_.reset();
  if (state_ != State::kClosed) {
    DetachStreams();
    if (transport_ != nullptr) transport_->Abort();
  }
  transport_.reset();
  if (session_ != nullptr) nghttp2_session_del(session_);
}

void MuxChannel::Start() {
  if (started_) return;
  started_ = true;
  // Both kinds of readiness for the channel's whole life (edge-triggered).
  // Registering reports the current readiness, which starts the handshake.
  event_ = dispatcher_.CreateFileEvent(transport_->fd(), FileEvent::kRead | FileEvent::kWrite,
                                       [this](uint32_t) { OnEvent(); });
}

void MuxChannel::OnEvent() {
  bool destroyed = false;
  destroyed_ = &destroyed;
  in_event_ = true;
  flush_scheduled_ = false;
  if (state_ == State::kHandshaking) DriveHandshake();
  if (state_ == State::kOpen) ReadInput();
  if (state_ == State::kOpen && goaway_error_ == "goaway") {  // the peer gave up on us
    Fail("goaway");
  }
  if (state_ == State::kOpen && !DeliverNewStreams()) return;  // *this is gone
  if (state_ == State::kOpen) Flush();
  if (state_ == State::kOpen && out_.empty() && nghttp2_session_want_read(session_) == 0 &&
      nghttp2_session_want_write(session_) == 0) {
    Fail(goaway_error_);  // done: GOAWAY both ways (or ours with an error) and no open stream
  }
  RaiseDirty();
  in_event_ = false;
  destroyed_ = nullptr;
  if (state_ == State::kClosing) Finish();  // *this may be gone
}

void MuxChannel::DriveHandshake() {
  switch (transport_->Handshake()) {
    case IoStatus::kOk:
      state_ = State::kOpen;
      break;
    case IoStatus::kWouldBlock:
      break;
    case IoStatus::kEof:
    case IoStatus::kError:
      Fail(transport_->error().empty() ? absl::string_view("handshake_failed")
                                       : absl::string_view(transport_->error()));
      break;
  }
}

void MuxChannel::ReadInput() {
  uint8_t buf[kReadChunk];
  for (int i = 0; i < std::max(1, options_.max_reads_per_event); ++i) {
    size_t n = 0;
    switch (transport_->Read(buf, sizeof(buf), &n)) {
      case IoStatus::kOk: {
        ssize_t rv = nghttp2_session_mem_recv(session_, buf, n);
        if (rv < 0) {
          Fail("protocol_error");
          return;
        }
        break;
      }
      case IoStatus::kWouldBlock:
        return;
      case IoStatus::kEof:
        // After GOAWAY both ways and the last stream, the peer may close
        // before we noticed that we are done too: that is no failure.
        Fail(nghttp2_session_want_read(session_) == 0 ? absl::string_view(goaway_error_)
                                                      : absl::string_view("eof"));
        return;
      case IoStatus::kError:
        Fail(transport_->error().empty() ? absl::string_view("reset")
                                         : absl::string_view(transport_->error()));
        return;
    }
  }
  event_->Activate(FileEvent::kRead);  // budget used up: continue on a later turn
}

void MuxChannel::Flush() {
  for (;;) {
    while (out_.size() - out_offset_ < kMaxOutput) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        Fail("protocol_error");
        return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (out_offset_ == out_.size()) return;
    size_t n = 0;
    switch (transport_->Write(reinterpret_cast<const uint8_t*>(out_.data()) + out_offset_,
                              out_.size() - out_offset_, &n)) {
      case IoStatus::kOk:
        out_offset_ += n;
        if (out_offset_ == out_.size()) {
          out_.clear();
          out_offset_ = 0;
        } else if (n == 0) {
          return;  // wait for the next event
        }
        break;
      case IoStatus::kWouldBlock:
        if (out_offset_ > 0) {
          out_.erase(0, out_offset_);
          out_offset_ = 0;
        }
        return;  // the next writable edge calls Flush again
      case IoStatus::kEof:
      case IoStatus::kError:
        Fail(transport_->error().empty() ? absl::string_view("reset")
                                         : absl::string_view(transport_->error()));
        return;
    }
  }
}

bool MuxChannel::DeliverNewStreams() {
  while (!new_streams_.empty() && state_ == State::kOpen) {
    std::vector<std::shared_ptr<StreamState>> batch;
    batch.swap(new_streams_);
    for (std::shared_ptr<StreamState>& st : batch) {
      StreamState& s = *st;
      if (s.closed) {
        if (s.channel != nullptr) Forget(s);
        continue;
      }
      if (s.refused || s.channel == nullptr) continue;
      int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (efd < 0 || !on_stream_) {
        if (efd >= 0) close(efd);
        s.orphaned = true;
        RefuseStream(s, 0);
        continue;
      }
      std::unique_ptr<MuxStream> stream(new MuxStream(st, UniqueFd(efd)));
      on_stream_(std::move(stream), s.headers);  // `st` keeps s alive
      if (*destroyed_) return false;
    }
  }
  return true;
}

void MuxChannel::RaiseDirty() {
  std::vector<std::shared_ptr<StreamState>> dirty;
  dirty.swap(dirty_);
  for (std::shared_ptr<StreamState>& s : dirty) {
    s->dirty = false;
    mux_internal::Raise(*s, s->read_edge, s->write_edge);
    s->read_edge = s->write_edge = false;
  }
}

void MuxChannel::MarkDirty(StreamState& s, bool read, bool write) {
  s.read_edge |= read;
  s.write_edge |= write;
  if (s.dirty) return;
  auto it = streams_.find(s.id);
  if (it == streams_.end() || it->second.get() != &s) {
    mux_internal::Raise(s, s.read_edge, s.write_edge);  // not tracked: at once
    s.read_edge = s.write_edge = false;
    return;
  }
  s.dirty = true;
  dirty_.push_back(it->second);
  ScheduleFlush();
}

void MuxChannel::ScheduleFlush() {
  if (in_event_ || flush_scheduled_ || event_ == nullptr || closed()) return;
  flush_scheduled_ = true;
  event_->Activate(FileEvent::kWrite);
}

void MuxChannel::Fail(absl::string_view error) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;  // first cause wins
  state_ = State::kClosing;
  error_ = std::string(error);
  DetachStreams();
}

void MuxChannel::DetachStreams() {
  // Streams first (they must not reach the session again), then the session.
  absl::flat_hash_map<int32_t, std::shared_ptr<StreamState>> streams;
  streams.swap(streams_);
  for (auto& [id, s] : streams) {
    s->channel = nullptr;
    if (!s->closed && s->error.empty()) s->error = "mux_reset";
    s->send.Clear();
    s->dirty = false;
    mux_internal::Raise(*s, /*read=*/true, /*write=*/true);
  }
  new_streams_.clear();
  dirty_.clear();
  open_streams_ = 0;
  if (session_ != nullptr) {
    nghttp2_session_del(session_);
    session_ = nullptr;
  }
}

void MuxChannel::Finish() {
  state_ = State::kClosed;
  event_.reset();  // leave epoll before the transport closes the fd
  if (transport_ != nullptr) {
    if (error_.empty()) (void)transport_->ShutdownWrite();
    transport_.reset();
  }
  CloseCallback on_close = std::move(on_close_);
  std::string error = error_;
  if (on_close) on_close(error);  // may destroy *this
}

absl::StatusOr<std::unique_ptr<MuxStream>> MuxChannel::OpenStream(const StreamHeaders& headers,
                                                                  const MuxOpenOptions& options) {
  if (!CanOpenStream()) return absl::UnavailableError("mux channel cannot open a stream now");
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return absl::ResourceExhaustedError("eventfd failed");
  UniqueFd notify_fd(efd);
  auto state = std::make_shared<StreamState>();
  state->channel = this;
  state->headers = headers;
  state->wait_for_response = options.wait_for_response;
  state->send_limit = std::max<size_t>(1, options_.stream_send_buffer);
  nghttp2_nv nva[3] = {Header(":method", "CONNECT"), Header(":authority", headers.authority),
                       Header(kMuxProtoHeader, headers.protocol)};
  nghttp2_data_provider provider;
  provider.source.ptr = state.get();
  provider.read_callback = &MuxReadData;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva, headers.protocol.empty() ? 2 : 3,
                                      &provider, state.get());
  if (id < 0) {
    return absl::UnavailableError(absl::StrCat("nghttp2_submit_request: ", nghttp2_strerror(id)));
  }
  state->id = id;
  streams_[id] = state;
  ++open_streams_;
  ScheduleFlush();
  return std::unique_ptr<MuxStream>(new MuxStream(std::move(state), std::move(notify_fd)));
}

bool MuxChannel::CanOpenStream() const {
  if (role_ != MuxRole::kClient || session_ == nullptr || closed() || draining()) return false;
  const uint32_t remote =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  if (open_streams_ >= std::min(options_.max_concurrent_streams, remote)) return false;
  return nghttp2_session_get_next_stream_id(session_) < (1u << 31) - 1;
}

void MuxChannel::Drain() {
  if (closed() || draining_ || session_ == nullptr) return;
  draining_ = true;
  const int32_t last =
      role_ == MuxRole::kServer ? nghttp2_session_get_last_proc_stream_id(session_) : 0;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, nullptr, 0);
  ScheduleFlush();
}

// ------------------------------------------------- stream operations

void MuxChannel::Forget(StreamState& s) {
  auto it = streams_.find(s.id);
  if (it != streams_.end() && it->second.get() == &s) streams_.erase(it);  // may free s
}

void MuxChannel::Consume(StreamState& s, size_t n) {
  if (session_ == nullptr) return;
  nghttp2_session_consume(session_, s.id, n);
  ScheduleFlush();
}

void MuxChannel::DiscardReceived(StreamState& s) {
  const size_t n = s.recv.size();
  if (n == 0) return;
  s.recv.Clear();
  Consume(s, n);
}

void MuxChannel::ResumeData(StreamState& s) {
  if (s.closed || session_ == nullptr) return;
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  ScheduleFlush();
}

bool MuxChannel::AcceptStream(StreamState& s) {
  if (s.responded || s.closed || !s.error.empty() || session_ == nullptr) return false;
  nghttp2_nv nva[1] = {Header(":status", "200")};
  nghttp2_data_provider provider;
  provider.source.ptr = &s;
  provider.read_callback = &MuxReadData;
  if (nghttp2_submit_response(session_, s.id, nva, 1, &provider) != 0) {
    s.error = "stream_reset";
    return false;
  }
  s.responded = true;
  s.status = 200;
  ScheduleFlush();
  return true;
}

void MuxChannel::RefuseStream(StreamState& s, int status) {
  if (s.responded || s.closed || session_ == nullptr) return;
  s.responded = true;
  s.refused = true;
  if (s.error.empty()) s.error = "mux_refused";
  DiscardReceived(s);
  s.send.Clear();
  if (status == 0) {
    ResetStream(s, NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (status < 300 || status > 999) status = 403;
  s.status = status;
  const std::string code = absl::StrCat(status);
  nghttp2_nv nva[1] = {Header(":status", code)};
  // No body: HEADERS carries END_STREAM; OnFrameSend then resets the stream
  // (NO_ERROR) if the client is still sending.
  if (nghttp2_submit_response(session_, s.id, nva, 1, nullptr) != 0) {
    ResetStream(s, NGHTTP2_REFUSED_STREAM);
  }
  ScheduleFlush();
}

void MuxChannel::ResetStream(StreamState& s, uint32_t error_code) {
  if (s.closed || session_ == nullptr) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, error_code);
  ScheduleFlush();
}

void MuxChannel::AbortStream(StreamState& s) {
  DiscardReceived(s);
  s.send.Clear();
  if (s.error.empty()) s.error = "aborted";
  ResetStream(s, s.server && !s.responded ? NGHTTP2_REFUSED_STREAM : NGHTTP2_CANCEL);
}

void MuxChannel::StreamGone(StreamState& s) {
  s.orphaned = true;
  const bool unread = !s.recv.empty();
  DiscardReceived(s);
  if (s.closed) {
    Forget(s);
    return;
  }
  if (s.server && !s.responded) {
    s.send.Clear();
    ResetStream(s, NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (unread || !s.error.empty()) {  // as close() with unread bytes: reset
    s.send.Clear();
    ResetStream(s, NGHTTP2_CANCEL);
    return;
  }
  // An orderly close: what was written still goes out, then END_STREAM; a
  // peer still sending is then told to stop (OnFrameSend).
  if (!s.local_shut) {
    s.local_shut = true;
    ResumeData(s);
  }
  if (s.end_sent && !s.remote_eof) ResetStream(s, NGHTTP2_NO_ERROR);
}

}  // namespace tether::proxy
