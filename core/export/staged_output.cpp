#include "core/export/staged_output.h"

#include <unistd.h>

#include <filesystem>

#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::exporter {

StagedOutput::StagedOutput(std::string final_path, bool directory)
    : final_(std::move(final_path)), directory_(directory) {
  fs::path f = fs::absolute(final_).lexically_normal();
  if (f.filename().empty()) f = f.parent_path();
  if (f.filename().empty()) throw Error(final_ + ": not a usable output path");
  final_ = f.string();
  std::error_code ec;
  fs::create_directories(f.parent_path(), ec);
  if (ec) throw Error(f.parent_path().string() + ": cannot create: " + ec.message());
  staging_ =
      (f.parent_path() / ("." + f.filename().string() + ".partial-" + std::to_string(getpid())))
          .string();
  fs::remove_all(staging_, ec);
  if (directory_) {
    fs::create_directories(staging_, ec);
    if (ec) throw Error(staging_ + ": cannot create: " + ec.message());
  }
}

StagedOutput::~StagedOutput() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedOutput::commit() {
  std::error_code ec;
  if (!fs::exists(staging_, ec)) throw Error(staging_ + ": nothing was written");
  const std::string old = staging_ + ".old";
  const bool had_old = fs::exists(final_, ec);
  if (had_old) {
    fs::remove_all(old, ec);
    fs::rename(final_, old, ec);
    if (ec) throw Error(final_ + ": cannot move the previous export aside: " + ec.message());
  }
  fs::rename(staging_, final_, ec);
  if (ec) {
    std::error_code ec2;
    if (had_old) fs::rename(old, final_, ec2);
    throw Error(final_ + ": cannot move the export into place: " + ec.message());
  }
  committed_ = true;
  if (had_old) fs::remove_all(old, ec);
}

}  // namespace qatwb::exporter
