#include "core/run/event_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qatwb::run {

using Json = nlohmann::ordered_json;

namespace {

const EnumRow<EventType> kEventTypes[] = {
    {EventType::Start, "start", "the run started (config, host, device)"},
    {EventType::Metric, "metric", "training metrics of one optimizer step"},
    {EventType::Eval, "eval", "an evaluation (perplexities)"},
    {EventType::Checkpoint, "checkpoint", "a checkpoint was written"},
    {EventType::Warning, "warning", "something the run survived"},
    {EventType::End, "end", "the run ended: finished, failed or stopped"}};

bool valid_status(const std::string& s) {
  return s == "finished" || s == "failed" || s == "stopped";
}

Json encode_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

Json encode_values(const std::map<std::string, double>& values) {
  Json obj = Json::object();
  for (const auto& [k, v] : values) obj[k] = encode_value(v);
  return obj;
}

bool decode_value(const Json& j, double& out) {
  if (j.is_number()) {
    out = j.get<double>();
    return true;
  }
  if (j.is_null()) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "nan")
      out = std::numeric_limits<double>::quiet_NaN();
    else if (s == "inf")
      out = std::numeric_limits<double>::infinity();
    else if (s == "-inf")
      out = -std::numeric_limits<double>::infinity();
    else
      return false;
    return true;
  }
  return false;
}

// Field readers that report instead of throwing.
bool get_string(const Json& obj, const char* key, std::string& out, bool required,
                std::string& error) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) error = std::string("missing \"") + key + "\"";
    return !required;
  }
  if (!it->is_string()) {
    error = std::string("\"") + key + "\" is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool get_int(const Json& obj, const char* key, int64_t& out, std::string& error) {
  auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (it->is_number_integer()) {
    out = it->get<int64_t>();
    return true;
  }
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
      out = static_cast<int64_t>(d);
      return true;
    }
  }
  error = std::string("\"") + key + "\" is not an integer";
  return false;
}

bool get_values(const Json& obj, std::map<std::string, double>& out, bool required,
                std::string& error) {
  auto it = obj.find("values");
  if (it == obj.end()) {
    if (required) error = "missing \"values\"";
    return !required;
  }
  if (!it->is_object()) {
    error = "\"values\" is not an object";
    return false;
  }
  for (auto v = it->begin(); v != it->end(); ++v) {
    double d;
    if (!decode_value(v.value(), d)) {
      error = "value \"" + v.key() + "\" is not a number";
      return false;
    }
    out[v.key()] = d;
  }
  return true;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": cannot append event: " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace

EnumRows<EventType> enum_rows(EventType) { return kEventTypes; }
const char* to_string(EventType type) { return enum_name(type); }

std::string to_json_line(const Event& e) {
  Json j;
  j["v"] = kEventVersion;
  j["type"] = to_string(e.type);
  j["time"] = e.time;
  if (e.step) j["step"] = *e.step;
  switch (e.type) {
    case EventType::Start: {
      Json config = Json::parse(e.start.config_json, nullptr, false);
      if (config.is_discarded() || !config.is_object())
        throw Error("start event: config is not a JSON object");
      j["run"] = e.start.run;
      j["project"] = e.start.project;
      j["host"] = e.start.host;
      j["pid"] = e.start.pid;
      j["device"] = e.start.device;
      j["threads"] = e.start.threads;
      j["config"] = std::move(config);
      break;
    }
    case EventType::Metric:
    case EventType::Eval:
      if (!e.step) throw Error(std::string(to_string(e.type)) + " event without a step");
      j["values"] = encode_values(e.values);
      break;
    case EventType::Checkpoint:
      j["path"] = e.path;
      break;
    case EventType::Warning:
      j["message"] = e.message;
      j["code"] = e.code;
      break;
    case EventType::End:
      if (!valid_status(e.status))
        throw Error("end event: status must be finished, failed or stopped, got '" + e.status +
                    "'");
      j["status"] = e.status;
      j["reason"] = e.reason;
      if (!e.values.empty()) j["values"] = encode_values(e.values);
      break;
  }
  // Invalid UTF-8 (a file name from a foreign file system) is replaced, never fatal.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<Event> parse_event_line(std::string_view line, std::string* error) {
  std::string why;
  auto fail = [&](const std::string& msg) -> std::optional<Event> {
    if (error) *error = msg;
    return std::nullopt;
  };
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return fail("empty line");
  Json j = Json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) return fail("not valid JSON");
  if (!j.is_object()) return fail("not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) return fail("missing \"v\"");
  if (v->get<int64_t>() != kEventVersion)
    return fail("unsupported event version " + v->dump() + " (this qatwb reads v1)");
  Event e;
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) return fail("missing \"type\"");
  if (const auto type = parse_enum<EventType>(t->get_ref<const std::string&>()))
    e.type = *type;
  else
    return fail("unknown event type '" + t->get<std::string>() + "'");
  auto time = j.find("time");
  if (time == j.end() || !time->is_number()) return fail("missing \"time\"");
  e.time = time->get<double>();
  if (j.contains("step") && !j["step"].is_null()) {
    int64_t step = 0;
    if (!get_int(j, "step", step, why)) return fail(why);
    e.step = step;
  }
  switch (e.type) {
    case EventType::Start: {
      auto& s = e.start;
      if (!get_string(j, "run", s.run, false, why) ||
          !get_string(j, "project", s.project, false, why) ||
          !get_string(j, "host", s.host, false, why) ||
          !get_string(j, "device", s.device, false, why) || !get_int(j, "pid", s.pid, why))
        return fail(why);
      int64_t threads = 0;
      if (!get_int(j, "threads", threads, why)) return fail(why);
      s.threads = static_cast<int>(threads);
      auto c = j.find("config");
      if (c != j.end() && !c->is_null()) {
        if (!c->is_object()) return fail("\"config\" is not an object");
        s.config_json = c->dump(-1, ' ', false, Json::error_handler_t::replace);
      }
      break;
    }
    case EventType::Metric:
    case EventType::Eval:
      if (!e.step) return fail(std::string(to_string(e.type)) + " event without \"step\"");
      if (!get_values(j, e.values, true, why)) return fail(why);
      break;
    case EventType::Checkpoint:
      if (!get_string(j, "path", e.path, true, why)) return fail(why);
      break;
    case EventType::Warning:
      if (!get_string(j, "message", e.message, true, why) ||
          !get_string(j, "code", e.code, false, why))
        return fail(why);
      break;
    case EventType::End:
      if (!get_string(j, "status", e.status, true, why) ||
          !get_string(j, "reason", e.reason, false, why) || !get_values(j, e.values, false, why))
        return fail(why);
      if (!valid_status(e.status)) return fail("unknown end status '" + e.status + "'");
      break;
  }
  return e;
}

EventWriter::EventWriter(const std::string& path, FsyncPolicy policy)
    : path_(path), policy_(policy) {
  fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path + ": cannot open event log: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) == 1 && last != '\n') write_all(fd_, "\n", path_);
  }
}

EventWriter::~EventWriter() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

double EventWriter::now() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

void EventWriter::write(const Event& event) {
  Event e = event;
  if (e.time == 0) e.time = now();
  std::string line = to_json_line(e) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  write_all(fd_, line, path_);
  bool important = e.type != EventType::Metric && e.type != EventType::Eval;
  if (policy_ == FsyncPolicy::Always || (policy_ == FsyncPolicy::Important && important))
    ::fsync(fd_);
}

void EventWriter::start(const StartInfo& info) {
  Event e;
  e.type = EventType::Start;
  e.start = info;
  write(e);
}

void EventWriter::metric(int64_t step, const std::map<std::string, double>& values) {
  Event e;
  e.type = EventType::Metric;
  e.step = step;
  e.values = values;
  write(e);
}

void EventWriter::eval(int64_t step, const std::map<std::string, double>& values) {
  Event e;
  e.type = EventType::Eval;
  e.step = step;
  e.values = values;
  write(e);
}

void EventWriter::checkpoint(int64_t step, const std::string& path) {
  Event e;
  e.type = EventType::Checkpoint;
  e.step = step;
  e.path = path;
  write(e);
}

void EventWriter::warning(std::optional<int64_t> step, const std::string& message,
                          const std::string& code) {
  Event e;
  e.type = EventType::Warning;
  e.step = step;
  e.message = message;
  e.code = code;
  write(e);
}

void EventWriter::end(const std::string& status, const std::string& reason,
                      const std::map<std::string, double>& values, std::optional<int64_t> step) {
  Event e;
  e.type = EventType::End;
  e.status = status;
  e.reason = reason;
  e.values = values;
  e.step = step;
  write(e);
}

int64_t read_complete_lines(const std::string& path, int64_t offset, std::vector<LogLine>& out,
                            size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return offset;
    throw Error(path + ": cannot read event log: " + std::strerror(errno));
  }
  std::string buf;
  const size_t chunk = size_t{1} << 20;
  for (;;) {
    size_t old = buf.size();
    buf.resize(old + chunk);
    ssize_t n = ::pread(fd, &buf[old], chunk, offset + static_cast<int64_t>(old));
    if (n < 0) {
      if (errno == EINTR) {
        buf.resize(old);
        continue;
      }
      int err = errno;
      ::close(fd);
      throw Error(path + ": cannot read event log: " + std::strerror(err));
    }
    buf.resize(old + static_cast<size_t>(n));
    if (n == 0) break;
    if (buf.size() >= max_bytes && buf.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  size_t start = 0;
  for (size_t nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n', start)) {
    out.push_back({offset + static_cast<int64_t>(start), buf.substr(start, nl - start)});
    start = nl + 1;
  }
  return offset + static_cast<int64_t>(start);
}

}  // namespace qatwb::run
