#include "core/store/live_ingest.h"

#include <iostream>

#include "core/store/store.h"

namespace qatwb::store {

LiveIngest::LiveIngest(std::string db_path, std::string run_dir, double interval_s)
    : db_path_(std::move(db_path)),
      run_dir_(std::move(run_dir)),
      interval_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(interval_s))) {}

void LiveIngest::poll(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && ingests_ > 0 && now - last_ < interval_) return;
  last_ = now;
  try {
    Store::open(db_path_).ingest_run_dir(run_dir_);
    ++ingests_;
  } catch (const std::exception& e) {
    if (!warned_)
      std::cerr << "qatwb run: warning: the store is not updated while the run trains (" << e.what()
                << "); it is ingested again at the end\n";
    warned_ = true;
  }
}

}  // namespace qatwb::store
