// The nghttp2 side of MuxChannel: session setup and the callbacks. They only
// record what happened (bytes, ends, answers, closes) in the streams' state
// and mark the edges owed; the channel acts on it after nghttp2 returns.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include <nghttp2/nghttp2.h>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "proxy/mux/mux_channel.h"

namespace tether::proxy {

using mux_internal::StreamState;

struct MuxCallbacks {
  static MuxChannel& Channel(void* user_data) { return *static_cast<MuxChannel*>(user_data); }

  static StreamState* Stream(nghttp2_session* session, int32_t id) {
    return static_cast<StreamState*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame,
                            void* user_data) {
    MuxChannel& ch = Channel(user_data);
    if (ch.role_ != MuxRole::kServer || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    const int32_t id = frame->hd.stream_id;
    if (ch.draining_ || ch.streams_.size() >= ch.options_.max_concurrent_streams) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    auto state = std::make_shared<StreamState>();
    state->channel = &ch;
    state->id = id;
    state->server = true;
    state->send_limit = ch.options_.stream_send_buffer;
    nghttp2_session_set_stream_user_data(session, id, state.get());
    ch.streams_[id] = std::move(state);
    ++ch.open_streams_;
    return 0;
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                      void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    StreamState* s = Stream(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    MuxChannel& ch = Channel(user_data);
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > ch.options_.max_header_bytes) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets the stream
    }
    absl::string_view n(reinterpret_cast<const char*>(name), namelen);
    absl::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (s->server && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      if (n == ":method") {
        s->method_connect = v == "CONNECT" ? 1 : -1;
      } else if (n == ":authority") {
        s->headers.authority = std::string(v);
      } else if (n == kMuxProtoHeader) {
        s->headers.protocol = std::string(v);
      }
    } else if (!s->server && n == ":status") {
      int status = 0;
      if (absl::SimpleAtoi(v, &status)) s->status = status;
    }
    return 0;
  }

  static void PeerEnded(MuxChannel& ch, StreamState& s) {
    if (s.refused || s.remote_eof) return;
    s.remote_eof = true;
    ch.MarkDirty(s, /*read=*/true, /*write=*/false);
  }

  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    MuxChannel& ch = Channel(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      ch.goaway_received_ = true;
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR) ch.goaway_error_ = "goaway";
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    StreamState* s = Stream(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      // nghttp2 checked the pseudo-headers (CONNECT: :authority, no :path).
      if (s->method_connect != 1 || s->headers.authority.empty()) {
        s->orphaned = true;  // never offered to on_stream
        ch.RefuseStream(*s, 400);
        return 0;
      }
      ch.new_streams_.push_back(ch.streams_[s->id]);
      if (end) s->remote_eof = true;
      return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE &&
        !s->server) {
      if (s->status < 200) return 0;  // 1xx: wait for the final answer
      s->responded = true;
      if (s->status >= 300) {
        s->refused = true;
        if (s->error.empty()) s->error = "mux_refused";
        ch.ResetStream(*s, NGHTTP2_CANCEL);
      }
      ch.MarkDirty(*s, /*read=*/true, /*write=*/true);
    }
    if (end) PeerEnded(ch, *s);
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, uint8_t /*flags*/, int32_t id,
                         const uint8_t* data, size_t len, void* user_data) {
    MuxChannel& ch = Channel(user_data);
    StreamState* s = Stream(session, id);
    if (s == nullptr || s->orphaned || s->refused || !s->error.empty()) {
      // Nobody will read these: give the credit back at once.
      nghttp2_session_consume(session, id, len);
      return 0;
    }
    s->recv.Append(data, len);
    ch.MarkDirty(*s, /*read=*/true, /*write=*/false);
    return 0;
  }

  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    MuxChannel& ch = Channel(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      ch.goaway_error_ = "protocol_error";
      return 0;
    }
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    StreamState* s = Stream(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    s->end_sent = true;
    // A refusal, or a stream nobody reads any more, whose peer still sends:
    // tell it to stop (RFC 9113 8.1: RST_STREAM NO_ERROR after a response).
    if ((s->refused || s->orphaned) && !s->remote_eof && !s->closed) {
      ch.ResetStream(*s, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int OnFrameNotSend(nghttp2_session* session, const nghttp2_frame* frame,
                            int /*lib_error_code*/, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    StreamState* s = Stream(session, frame->hd.stream_id);
    if (s == nullptr || s->closed) return 0;
    if (s->error.empty()) s->error = s->server ? "stream_reset" : "mux_refused";
    Channel(user_data).MarkDirty(*s, true, true);
    return 0;
  }

  static int OnStreamClose(nghttp2_session* session, int32_t id, uint32_t error_code,
                           void* user_data) {
    MuxChannel& ch = Channel(user_data);
    StreamState* s = Stream(session, id);
    if (s == nullptr) return 0;
    s->closed = true;
    if (ch.open_streams_ > 0) --ch.open_streams_;
    const bool finished = error_code == NGHTTP2_NO_ERROR && s->remote_eof && s->end_sent;
    if (!finished && s->error.empty()) {
      s->error = error_code == NGHTTP2_REFUSED_STREAM ? "mux_refused" : "stream_reset";
    }
    s->send.Clear();
    if (s->orphaned) {
      ch.DiscardReceived(*s);
      ch.Forget(*s);  // may free *s
      return 0;
    }
    ch.MarkDirty(*s, /*read=*/true, /*write=*/true);
    return 0;
  }

  // ReadData hands nghttp2 the next bytes of a stream's send buffer.
  static ssize_t ReadData(nghttp2_session* /*session*/, int32_t /*id*/, uint8_t* buf,
                          size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                          void* user_data) {
    auto* s = static_cast<StreamState*>(source->ptr);
    const size_t n = std::min(length, s->send.size());
    if (n > 0) {
      std::memcpy(buf, s->send.front(), n);
      s->send.Pop(n);
    }
    if (s->send.empty() && s->local_shut) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (s->write_blocked && s->send.size() <= s->send_limit / 2) {
      s->write_blocked = false;
      Channel(user_data).MarkDirty(*s, /*read=*/false, /*write=*/true);
    }
    return static_cast<ssize_t>(n);
  }

  static nghttp2_session* NewSession(MuxChannel& ch) {
    nghttp2_session_callbacks* cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return nullptr;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &OnFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &OnDataChunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &OnFrameSend);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &OnFrameNotSend);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &OnStreamClose);
    nghttp2_option* opt;
    if (nghttp2_option_new(&opt) != 0) {
      nghttp2_session_callbacks_del(cbs);
      return nullptr;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, ch.options_.max_concurrent_streams);
    nghttp2_session* session = nullptr;
    int rv = ch.role_ == MuxRole::kClient ? nghttp2_session_client_new2(&session, cbs, &ch, opt)
                                          : nghttp2_session_server_new2(&session, cbs, &ch, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) return nullptr;
    nghttp2_settings_entry settings[4];
    size_t count = 0;
    settings[count++] = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                         ch.options_.max_concurrent_streams};
    settings[count++] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, ch.options_.stream_window};
    settings[count++] = {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                         static_cast<uint32_t>(ch.options_.max_header_bytes)};
    if (ch.role_ == MuxRole::kClient) settings[count++] = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    const uint64_t conn_window = std::min<uint64_t>(
        (1u << 31) - 1, uint64_t{ch.options_.max_concurrent_streams} * ch.options_.stream_window);
    if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, count) != 0 ||
        nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                              static_cast<int32_t>(conn_window)) != 0) {
      nghttp2_session_del(session);
      return nullptr;
    }
    return session;
  }
};

nghttp2_session* NewMuxSession(MuxChannel& channel) { return MuxCallbacks::NewSession(channel); }

ssize_t MuxReadData(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                    uint32_t* data_flags, nghttp2_data_source* source, void* user_data) {
  return MuxCallbacks::ReadData(session, id, buf, length, data_flags, source, user_data);
}

}  // namespace tether::proxy
