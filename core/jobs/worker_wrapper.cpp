#include "core/jobs/worker_wrapper.h"

#include "core/run/run_dir.h"

namespace qatwb::jobs {
namespace {

// After the first line (core/run/run_dir.h names the files: $pf pid, $wf worker_pid, $xf exit).
const char* kWrapperBody = R"(mkdir -p "$jd" || exit 125
rm -f "$xf" "$wf"
echo $$ > "$pf.tmp" && mv -f "$pf.tmp" "$pf"
"$@" < /dev/null &
wpid=$!
echo "$wpid" > "$wf"
trap 'true' TERM INT HUP
while kill -0 "$wpid" 2> /dev/null; do wait "$wpid"; done
wait "$wpid"; rc=$?
echo "$rc" > "$xf.tmp" && mv -f "$xf.tmp" "$xf"
exit "$rc"
)";

std::string wrapper_script() {
  using run::RunDir;
  return std::string("jd=$1; shift\n") + "pf=\"$jd/" + RunDir::kJobPidFile + "\"; wf=\"$jd/" +
         RunDir::kJobWorkerPidFile + "\"; xf=\"$jd/" + RunDir::kJobExitFile + "\"\n" + kWrapperBody;
}

}  // namespace

std::vector<std::string> wrap_worker(const std::string& state_dir,
                                     const std::vector<std::string>& worker) {
  std::vector<std::string> argv = {"bash", "-c", wrapper_script(), "qatwb-job", state_dir};
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
