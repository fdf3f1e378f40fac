#include "core/jobs/worker_wrapper.h"

namespace qatwb::jobs {

static const char* kWrapperScript = R"(jd=$1; shift
mkdir -p "$jd" || exit 125
rm -f "$jd/exit" "$jd/worker_pid"
echo $$ > "$jd/pid.tmp" && mv -f "$jd/pid.tmp" "$jd/pid"
"$@" < /dev/null &
wpid=$!
echo "$wpid" > "$jd/worker_pid"
trap 'true' TERM INT HUP
while kill -0 "$wpid" 2> /dev/null; do wait "$wpid"; done
wait "$wpid"; rc=$?
echo "$rc" > "$jd/exit.tmp" && mv -f "$jd/exit.tmp" "$jd/exit"
exit "$rc"
)";

std::string job_state_dir(const std::string& run_dir) { return run_dir + "/.job"; }

std::vector<std::string> wrap_worker(const std::string& state_dir,
                                     const std::vector<std::string>& worker) {
  std::vector<std::string> argv = {"bash", "-c", kWrapperScript, "qatwb-job", state_dir};
  argv.insert(argv.end(), worker.begin(), worker.end());
  return argv;
}

std::vector<std::string> worker_argv(const std::vector<std::string>& prefix,
                                     const std::string& project, const std::string& run_dir,
                                     bool resume) {
  std::vector<std::string> argv = prefix;
  if (resume) {
    argv.push_back("--resume");
    argv.push_back(run_dir);
  } else {
    argv.push_back(project);
    argv.push_back("--run-dir");
    argv.push_back(run_dir);
  }
  return argv;
}

}  // namespace qatwb::jobs
