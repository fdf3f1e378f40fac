#pragma once
#include <string>

namespace qatwb {

// Sets LibTorch's intra-op (and inter-op, once per process) thread counts. requested <= 0 means
// every available core. Returns a line for the run log, e.g. "threads: 2 intra-op (of 2 cores)".
std::string configure_threads(int requested);

}  // namespace qatwb
