#include "common/flags.h"

#include <cstring>

#include "absl/flags/parse.h"

namespace tether {

std::vector<std::string> DashesToUnderscores(int argc, char** argv) {
  std::vector<std::string> out;
  bool after_double_dash = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !after_double_dash && arg == "--") {
      after_double_dash = true;
    } else if (i > 0 && !after_double_dash && arg.size() > 2 && arg[0] == '-') {
      size_t start = arg[1] == '-' ? 2 : 1;
      size_t end = arg.find('=');
      if (end == std::string::npos) end = arg.size();
      for (size_t j = start; j < end; ++j) {
        if (arg[j] == '-') arg[j] = '_';
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::vector<char*> ParseCommandLineWithDashes(int argc, char** argv) {
  static std::vector<std::string>* storage = new std::vector<std::string>();
  *storage = DashesToUnderscores(argc, argv);
  static std::vector<char*>* pointers = new std::vector<char*>();
  pointers->clear();
  for (auto& s : *storage) pointers->push_back(s.data());
  return absl::ParseCommandLine(static_cast<int>(pointers->size()), pointers->data());
}

}  // namespace tether
