// tether-proxy: the sidecar data plane.
#include <cstring>
#include <iostream>

#include "common/version.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << tether::VersionString("tether-proxy") << "\n";
    return 0;
  }
  std::cerr << "usage: tether-proxy --version\n";
  return 2;
}
