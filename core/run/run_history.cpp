#include "core/run/run_history.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/run/event_log.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::run {

namespace {

// Every complete line of the log, in order.
std::vector<LogLine> all_lines(const std::string& path) {
  std::vector<LogLine> lines;
  int64_t offset = 0;
  for (;;) {
    const int64_t next = read_complete_lines(path, offset, lines);
    if (next == offset) break;
    offset = next;
  }
  return lines;
}

bool is_replayed(const Event& e, std::optional<int64_t> checkpoint_step) {
  if (!e.step) return false;
  if (!checkpoint_step)
    return e.type != EventType::Start && e.type != EventType::End;  // from scratch: all of it
  switch (e.type) {
    case EventType::Metric:
    case EventType::Warning:
      return *e.step >= *checkpoint_step;  // the index of the step taken
    case EventType::Eval:
    case EventType::Checkpoint:
      return *e.step > *checkpoint_step;  // the number of steps done
    case EventType::Start:
    case EventType::End:
      return false;
  }
  return false;
}

}  // namespace

int64_t resume_cut_offset(const std::string& events_path, std::optional<int64_t> checkpoint_step) {
  const std::vector<LogLine> lines = all_lines(events_path);
  size_t cut = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto e = parse_event_line(lines[i].text);
    if (e && is_replayed(*e, checkpoint_step)) {
      cut = i;
      break;
    }
  }
  // A torn line right before the cut (the crash that ended the attempt) is not history.
  while (cut > 0 && !parse_event_line(lines[cut - 1].text)) --cut;
  if (cut < lines.size()) return lines[cut].offset;
  if (lines.empty()) return 0;
  return lines.back().offset + static_cast<int64_t>(lines.back().text.size()) + 1;
}

int64_t rewind_events_for_resume(const RunDir& dir, std::optional<int64_t> checkpoint_step) {
  const std::string path = dir.events_path();
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  const int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) throw Error(path + ": cannot read the event log: " + ec.message());
  const int64_t cut = resume_cut_offset(path, checkpoint_step);
  if (cut >= size) return 0;
  if (::truncate(path.c_str(), cut) != 0)
    throw Error(path + ": cannot cut the replayed events off: " + std::strerror(errno));
  return size - cut;
}

std::optional<std::string> failed_before_first_step(const RunDir& dir) {
  std::error_code ec;
  if (!fs::exists(dir.events_path(), ec) || !dir.checkpoints().empty()) return std::nullopt;
  std::optional<std::string> reason;
  for (const auto& l : all_lines(dir.events_path())) {
    const auto e = parse_event_line(l.text);
    if (!e) continue;
    switch (e->type) {
      case EventType::Metric:
      case EventType::Eval:
      case EventType::Checkpoint:
        return std::nullopt;
      case EventType::Start:
        reason.reset();  // a later attempt is the one that counts
        break;
      case EventType::End:
        if (e->status != "failed") return std::nullopt;
        reason = e->reason;
        break;
      case EventType::Warning:
        break;
    }
  }
  return reason;
}

void clear_failed_attempt(const RunDir& dir) {
  for (const std::string& p : {dir.events_path(), dir.config_path()}) {
    std::error_code ec;
    fs::remove(p, ec);
    if (ec) throw Error(p + ": cannot remove the failed attempt's file: " + ec.message());
  }
}

}  // namespace qatwb::run
