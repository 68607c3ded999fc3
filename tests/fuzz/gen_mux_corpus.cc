// gen_mux_corpus DIR: writes seed inputs for mux_channel_fuzz: what a client
// nghttp2 session sends after the preface for a few stream stories (one
// stream with data and its end, a reset, several streams, a GOAWAY).
#include <cstdio>
#include <cstring>
#include <string>

#include <nghttp2/nghttp2.h>

namespace {

struct Body {
  std::string data;
  size_t off = 0;
  bool end = true;
};

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                 nghttp2_data_source* src, void*) {
  auto* b = static_cast<Body*>(src->ptr);
  size_t n = std::min(len, b->data.size() - b->off);
  std::memcpy(buf, b->data.data() + b->off, n);
  b->off += n;
  if (b->off == b->data.size()) {
    if (!b->end) return n == 0 ? NGHTTP2_ERR_DEFERRED : static_cast<ssize_t>(n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

nghttp2_nv Nv(const char* n, const char* v) {
  return {(uint8_t*)n, (uint8_t*)v, strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE};
}

int32_t Open(nghttp2_session* s, const char* authority, Body* body) {
  nghttp2_nv nva[] = {Nv(":method", "CONNECT"), Nv(":authority", authority),
                      Nv("tether-proto", "tcp")};
  nghttp2_data_provider prd;
  prd.source.ptr = body;
  prd.read_callback = ReadBody;
  return nghttp2_submit_request(s, nullptr, nva, 3, &prd, nullptr);
}

std::string Drain(nghttp2_session* s) {
  std::string out;
  const uint8_t* p;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(s, &p)) > 0) out.append((const char*)p, n);
  return out;
}

void Write(const std::string& dir, const char* name, std::string wire) {
  wire.erase(0, NGHTTP2_CLIENT_MAGIC_LEN);  // the harness adds the preface
  std::string path = dir + "/" + name;
  FILE* f = fopen(path.c_str(), "wb");
  fwrite(wire.data(), 1, wire.size(), f);
  fclose(f);
}

nghttp2_session* Client() {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session* s;
  nghttp2_session_client_new(&s, cbs, nullptr);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry e[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, e, 2);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  {  // one stream, bytes, end
    nghttp2_session* s = Client();
    Body b{"hello through the mux"};
    Open(s, "10.0.0.3:80", &b);  // '1' % 5 == 4: aborted by the harness
    Write(dir, "one_stream.bin", Drain(s));
    nghttp2_session_del(s);
  }
  {  // held streams (authority starting with '3'), one reset, window update, ping
    nghttp2_session* s = Client();
    Body a{std::string(40000, 'a'), 0, false};
    Body b{"short"};
    int32_t id = Open(s, "3.3.3.3:8080", &a);
    Open(s, "3.0.0.1:443", &b);
    std::string wire = Drain(s);
    nghttp2_submit_window_update(s, NGHTTP2_FLAG_NONE, 0, 100000);
    uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, ping);
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    wire += Drain(s);
    Write(dir, "held_reset_ping.bin", wire);
    nghttp2_session_del(s);
  }
  {  // every consumer behaviour, then GOAWAY
    nghttp2_session* s = Client();
    const char* auths[] = {"0.0.0.0:1", "1.1.1.1:2", "2.2.2.2:3", "3.3.3.3:4", "4.4.4.4:5",
                           "[::1]:6"};
    Body bodies[6];
    for (int i = 0; i < 6; ++i) {
      bodies[i].data = std::string(100 * (i + 1), 'x');
      Open(s, auths[i], &bodies[i]);
    }
    std::string wire = Drain(s);
    nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    wire += Drain(s);
    Write(dir, "six_streams_goaway.bin", wire);
    nghttp2_session_del(s);
  }
  return 0;
}
