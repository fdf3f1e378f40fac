// Exports are written next to their final path under a hidden ".<name>.partial-<pid>" name and
// renamed into place only once complete, so an interrupted export never leaves a file or folder
// that looks finished. An existing export at the final path is replaced only at commit().
#pragma once
#include <string>

namespace qatwb::exporter {

class StagedOutput {
 public:
  // `directory`: the export is a folder (HF-style) rather than one file (GGUF).
  StagedOutput(std::string final_path, bool directory);
  ~StagedOutput();  // removes the staging path unless committed
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;

  const std::string& path() const { return staging_; }  // write here
  const std::string& final_path() const { return final_; }
  // Moves the staging path to the final path (replacing what was there). Throws qatwb::Error.
  void commit();

 private:
  std::string final_;
  std::string staging_;
  bool directory_;
  bool committed_ = false;
};

}  // namespace qatwb::exporter
