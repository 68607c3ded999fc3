// Version: the release of Tether and of the libraries it is built with.
//
//   std::cout << tether::VersionString("tether-proxy") << "\n";
//   // tether-proxy 0.1.0 (BoringSSL, gRPC 1.51.1)
#ifndef TETHER_COMMON_VERSION_H_
#define TETHER_COMMON_VERSION_H_

#include <string>

namespace tether {

inline constexpr char kTetherVersion[] = "0.1.0";

// VersionString returns "<program> <version> (<TLS library>, gRPC <version>)".
std::string VersionString(const std::string& program);

}  // namespace tether

#endif  // TETHER_COMMON_VERSION_H_
