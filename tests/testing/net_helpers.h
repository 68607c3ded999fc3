// Test helpers for talking to servers on loopback: a blocking HTTP GET, a
// blocking TCP connect, and reading until EOF. Test code only.
#ifndef TETHER_TESTS_TESTING_NET_HELPERS_H_
#define TETHER_TESTS_TESTING_NET_HELPERS_H_

#include <string>

namespace tether::testing {

// HttpGet returns the whole response (status line, headers, body) of
// GET http://127.0.0.1:port/path, or "" if the connection failed.
std::string HttpGet(int port, const std::string& path);

// ConnectLoopback returns a blocking socket connected to 127.0.0.1:port, or -1.
int ConnectLoopback(int port);

// WriteAll / ReadAll: blocking; ReadAll stops at EOF, error or `limit` bytes.
bool WriteAll(int fd, const std::string& data);
std::string ReadAll(int fd, size_t limit = 64 << 20);

// MakeTempDir returns a new directory under $TEST_TMPDIR.
std::string MakeTempDir(const std::string& prefix);

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_NET_HELPERS_H_
