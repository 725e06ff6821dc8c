#pragma once
// ExportProfile -> gzipped pprof profile.proto (perftools.profiles.Profile), encoded
// with protobuf's generated code (third_party/pprof/profile.proto).
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/recording.h"
#include "report/export_profile.h"

namespace ccprof::report {

// The serialized (not yet gzipped) Profile message. Mappings are the recorded
// executable mappings of the processes the samples name, with their ELF build IDs.
std::string encode_pprof(const ExportProfile& profile, const model::Recording& rec);
// gzip (RFC 1952) of `data`, as pprof files are.
absl::StatusOr<std::string> gzip_bytes(const std::string& data);

}  // namespace ccprof::report
