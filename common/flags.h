// Flags: command lines with dashed flag names (`--state-dir`), parsed by
// Abseil (whose flags are declared with underscores, `state_dir`).
//
//   int main(int argc, char** argv) {
//     std::vector<char*> positional = tether::ParseCommandLineWithDashes(argc, argv);
#ifndef TETHER_COMMON_FLAGS_H_
#define TETHER_COMMON_FLAGS_H_

#include <string>
#include <vector>

namespace tether {

// DashesToUnderscores rewrites "--a-b=c-d" to "--a_b=c-d" (the value is kept);
// arguments after a bare "--" and non-flags are left alone.
std::vector<std::string> DashesToUnderscores(int argc, char** argv);

// ParseCommandLineWithDashes applies DashesToUnderscores, then
// absl::ParseCommandLine (which exits with a message on an unknown flag), and
// returns the positional arguments (argv[0] first). The returned pointers
// stay valid for the life of the process.
std::vector<char*> ParseCommandLineWithDashes(int argc, char** argv);

}  // namespace tether

#endif  // TETHER_COMMON_FLAGS_H_
