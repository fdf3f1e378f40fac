// The one event schema: <run>/events.jsonl holds one JSON object per line,
//   {"v":1,"type":"metric","time":1718000000.25,"step":10,"values":{"loss":2.5,"lr":1e-4}}
// Every line has "v" (1), "type", "time" (unix seconds, double) and, where meaningful, "step".
//   start      {run, project, config (object: the resolved project), host, pid, device, threads}
//   metric     {step, values: {key: number}}
//   eval       {step, values: {key: number}}
//   checkpoint {step, path}
//   warning    {step?, message, code}
//   end        {step?, status: finished|failed|stopped, reason, values?}
// JSON has no NaN/Inf: such a value is written as the string "nan", "inf" or "-inf"; readers also
// accept null as NaN. Unknown extra fields are ignored (forward compatible); another "v" is an
// error. A writer appends each event as one write() of a whole line, so a crash can only leave a
// partial last line, which readers do not consume until its newline arrives.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/enum_table.h"

namespace qatwb::run {

constexpr int kEventVersion = 1;

enum class EventType { Start, Metric, Eval, Checkpoint, Warning, End };
EnumRows<EventType> enum_rows(EventType);
const char* to_string(EventType type);

struct StartInfo {
  std::string run;
  std::string project;
  std::string config_json = "{}";  // a JSON object (project::to_json)
  std::string host;
  int64_t pid = 0;
  std::string device;
  int threads = 0;
};

struct Event {
  EventType type = EventType::Metric;
  double time = 0;
  std::optional<int64_t> step;
  std::map<std::string, double> values;  // metric, eval, end
  StartInfo start;                       // start
  std::string path;                      // checkpoint
  std::string message, code;             // warning
  std::string status, reason;            // end
};

// One line of JSON (no newline). Throws qatwb::Error for an event that breaks the schema (no step
// on a metric, an unknown end status, a config that is not a JSON object).
std::string to_json_line(const Event& event);
// Parses one line (without its newline). Never throws: on garbage, a wrong version or a schema
// violation returns nullopt and, if `error` is given, says why.
std::optional<Event> parse_event_line(std::string_view line, std::string* error = nullptr);

enum class FsyncPolicy {
  Never,      // leave it to the OS
  Important,  // fsync after start, checkpoint, warning and end (default)
  Always,     // fsync after every event
};

// Appends events to a file (created if missing). If the file ends in a partial line (a crashed
// writer), a newline is written first so that the partial line stays one bad line. Thread-safe.
class EventWriter {
 public:
  explicit EventWriter(const std::string& path, FsyncPolicy policy = FsyncPolicy::Important);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void write(const Event& event);  // as given (time 0 is stamped with now())
  void start(const StartInfo& info);
  void metric(int64_t step, const std::map<std::string, double>& values);
  void eval(int64_t step, const std::map<std::string, double>& values);
  void checkpoint(int64_t step, const std::string& path);
  void warning(std::optional<int64_t> step, const std::string& message, const std::string& code);
  // status: "finished", "failed" or "stopped".
  void end(const std::string& status, const std::string& reason,
           const std::map<std::string, double>& values = {},
           std::optional<int64_t> step = std::nullopt);

  const std::string& path() const { return path_; }
  static double now();  // unix seconds

 private:
  std::string path_;
  FsyncPolicy policy_;
  int fd_ = -1;
  std::mutex mutex_;
};

// Complete lines of a file from byte `offset` on, each with its starting offset. Reads about
// `max_bytes` (always at least one whole line if there is one); a last line without its newline
// is left for later. Returns the offset just past the last consumed line (== offset when nothing
// is complete or the file does not exist). Throws qatwb::Error if the file cannot be read.
struct LogLine {
  int64_t offset = 0;
  std::string text;  // without the newline
};
int64_t read_complete_lines(const std::string& path, int64_t offset, std::vector<LogLine>& out,
                            size_t max_bytes = size_t{16} << 20);

}  // namespace qatwb::run
