// tether-control: the control plane and mesh CA.
#include <cstring>
#include <iostream>

#include "common/version.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << tether::VersionString("tether-control") << "\n";
    return 0;
  }
  std::cerr << "usage: tether-control --version\n";
  return 2;
}
