// Test helpers for talking to servers on loopback: a blocking HTTP GET, a
// blocking TCP connect, reading until EOF, an echo exchange, waiting for a
// connection to end. Test code only.
#ifndef TETHER_TESTS_TESTING_NET_HELPERS_H_
#define TETHER_TESTS_TESTING_NET_HELPERS_H_

#include <optional>
#include <string>

namespace tether::testing {

// HttpGet returns the whole response (status line, headers, body) of
// GET http://127.0.0.1:port/path, or "" if the connection failed.
std::string HttpGet(int port, const std::string& path);
// HttpGetBody: the body of a 200 answer to that GET; nullopt for any other
// answer or none.
std::optional<std::string> HttpGetBody(int port, const std::string& path);

// ListenLoopback returns a socket listening on 127.0.0.1:port (0: the
// kernel picks) with `backlog`, opened with SOCK_STREAM | SOCK_CLOEXEC |
// `extra_type_flags` (e.g. SOCK_NONBLOCK) and SO_REUSEADDR, and sets
// `*bound_port`; -1 if it cannot listen.
int ListenLoopback(int port, int backlog, int* bound_port, int extra_type_flags = 0);

// ConnectLoopback returns a blocking socket connected to 127.0.0.1:port, or -1.
int ConnectLoopback(int port);

// WriteAll / ReadAll: blocking; ReadAll stops at EOF, error or `limit` bytes.
bool WriteAll(int fd, const std::string& data);
std::string ReadAll(int fd, size_t limit = 64 << 20);

// LoopbackAddress: "127.0.0.1:port".
std::string LoopbackAddress(int port);

// Echo writes `data` on blocking socket `fd` and reads as many bytes back:
// true if they are the same bytes, false on EOF, an error or the socket's
// receive timeout (20 s from ConnectLoopback) first.
bool Echo(int fd, const std::string& data);

// Ends reads until the connection ends: true on EOF or a reset, false if
// the socket's receive timeout passed first. What was read is appended to
// `got` when not null.
bool Ends(int fd, std::string* got = nullptr);

// ResetClose closes `fd` with a reset (SO_LINGER 0), as a client that gives up.
void ResetClose(int fd);

// MakeTempDir returns a new directory under $TEST_TMPDIR.
std::string MakeTempDir(const std::string& prefix);

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_NET_HELPERS_H_
