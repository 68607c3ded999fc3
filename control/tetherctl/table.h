// Output helpers for tetherctl: aligned tables and human-sized numbers.
//
//   PrintTable(std::cout, {{"NAME", "BYTES"}, {"a", HumanBytes(2048)}});
//   NAME  BYTES
//   a     2.0KiB
#ifndef TETHER_CONTROL_TETHERCTL_TABLE_H_
#define TETHER_CONTROL_TETHERCTL_TABLE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tether::tetherctl {

// PrintTable writes `rows` with columns padded to their widest cell (two
// spaces between columns, none after the last).
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// HumanBytes: "512B", "2.0KiB", "3.5MiB", "1.2GiB".
std::string HumanBytes(double bytes);

// HumanDuration: a rough, signed duration for people: "45s", "12m", "5h",
// "3d", "-2m" (in the past).
std::string HumanDuration(absl::Duration d);

// Rfc3339: "2025-01-02T03:04:05Z"; "" for an infinite time.
std::string Rfc3339(absl::Time t);

// ParseRfc3339 reads what the admin endpoints write ("...Z", with or
// without fractional seconds); false when it does not parse.
bool ParseRfc3339(const std::string& text, absl::Time* out);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_TABLE_H_
