// corpus_driver: a main() for fuzz targets built without libFuzzer.
//
//   http_request_fuzz tests/fuzz/corpus/http_request crash-1234
//
// Calls LLVMFuzzerTestOneInput once for every file named on the command line
// and every file under every directory named (recursively, in sorted order),
// so a seed corpus is replayed by `bazel test` under any sanitizer. Arguments
// that start with '-' (libFuzzer flags) are ignored. Exits 1 if a path cannot
// be read or no input was found at all.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// CollectInputs appends `path` if it is a file, or every file under it if it
// is a directory. Returns false if `path` does not exist or cannot be listed.
bool CollectInputs(const fs::path& path, std::vector<fs::path>* out_inputs) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    out_inputs->push_back(path);
    return true;
  }
  if (!fs::is_directory(path, ec)) {
    std::cerr << "corpus_driver: " << path.string() << ": not a file or directory\n";
    return false;
  }
  std::vector<fs::path> found;
  fs::recursive_directory_iterator it(path, fs::directory_options::follow_directory_symlink, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code file_ec;
    if (it->is_regular_file(file_ec)) found.push_back(it->path());
  }
  if (ec) {
    std::cerr << "corpus_driver: " << path.string() << ": " << ec.message() << "\n";
    return false;
  }
  std::sort(found.begin(), found.end());
  out_inputs->insert(out_inputs->end(), found.begin(), found.end());
  return true;
}

// RunInput feeds one file to the fuzz target, from a heap buffer of exactly
// its size so that AddressSanitizer catches any read past the end.
bool RunInput(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::cerr << "corpus_driver: cannot open " << path.string() << "\n";
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto data = std::make_unique<uint8_t[]>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), data.get());
  std::cerr << "Running: " << path.string() << " (" << bytes.size() << " bytes)\n";
  LLVMFuzzerTestOneInput(data.get(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  bool ok = true;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    ok = CollectInputs(argv[i], &inputs) && ok;
  }
  size_t ran = 0;
  for (const fs::path& input : inputs) {
    if (RunInput(input)) {
      ++ran;
    } else {
      ok = false;
    }
  }
  std::cout << "corpus_driver: ran " << ran << " inputs" << std::endl;
  if (ran == 0) {
    std::cerr << "corpus_driver: no inputs found; give files or directories\n";
    return 1;
  }
  return ok ? 0 : 1;
}
