#pragma once

namespace qatwb {

// The one version string: CLI --version, manifests, exported metadata.
inline constexpr char kVersion[] = "0.1.0";

}  // namespace qatwb
