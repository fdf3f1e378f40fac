#include "core/train/threads.h"

#include <thread>

namespace qatwb {

std::string configure_threads(int requested) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int n = requested > 0 ? requested : cores;
  torch::set_num_threads(n);
  static bool inter_op_set = false;
  if (!inter_op_set) {
    // May only be set once, before any inter-op parallel work.
    try {
      torch::set_num_interop_threads(1);
    } catch (const std::exception&) {
    }
    inter_op_set = true;
  }
  return "threads: " + std::to_string(torch::get_num_threads()) + " intra-op (of " +
         std::to_string(cores) + " cores)";
}

}  // namespace qatwb
