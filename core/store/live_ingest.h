// Follows a run into the store while it trains, so `qatwb run` runs appear in the GUI and in
// `qatwb watch` from their start event on and update as they go (before, the store learned of
// a CLI run only when it ended). poll() ingests what the log holds at most every `interval_s`
// seconds; a failure (the database busy or read-only) is reported once and never fails the
// run: the ingest after the end event is the one that must succeed.
#pragma once
#include <chrono>
#include <string>

namespace qatwb::store {

class LiveIngest {
 public:
  LiveIngest(std::string db_path, std::string run_dir, double interval_s = 2.0);

  // Ingests when `interval_s` has passed since the last ingest, or now when `force`.
  void poll(bool force = false);
  int64_t ingests() const { return ingests_; }

 private:
  std::string db_path_, run_dir_;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_{};
  int64_t ingests_ = 0;
  bool warned_ = false;
};

}  // namespace qatwb::store
