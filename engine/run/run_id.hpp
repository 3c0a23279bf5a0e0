// Who a run is: its id (what leases, journals and `refit resume` name it by) and the host it runs on.
#pragma once
#include <string>

namespace refit::run {

// A new run id: the UTC time it started and 6 random hex digits, `20261121-101502-3fa9c1`, so that
// ids sort by start time and two runs started in the same second still differ.
std::string new_run_id();

// Whether `text` has the shape of a run id or of a prefix of one (8 digits, then optionally `-`,
// up to 6 digits, `-` and up to 6 hex digits): `refit unlock 20261121-10` names a run, not a playbook.
bool looks_like_run_id(const std::string& text);

// This machine's host name, as leases and journals record it ("unknown" when the system has none).
std::string host_name();

}  // namespace refit::run
