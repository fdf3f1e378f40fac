// Real daemons for tests: a free TCP port on 127.0.0.1, stopping a daemon that is not our child,
// and a throw-away single-node Slurm (tests/scripts/start_slurm.sh: munge, slurmctld, slurmd).
#pragma once
#include <QString>

namespace qatwb::test {

// A TCP port on 127.0.0.1 that was free a moment ago (-1 if none could be bound).
int free_tcp_port();

// SIGTERM, then SIGKILL after 5 s, to a daemon started by a helper script (not our child, so it
// cannot be waited for: its /proc entry tells when it is gone or a zombie). pid <= 0: nothing.
void stop_daemon(qint64 pid);

// A single-node Slurm in `dir`; SLURM_CONF is set for this process and its children while it
// runs. When Slurm is not installed or does not start, running() is false and why() says why.
class LocalSlurm {
 public:
  explicit LocalSlurm(const QString& dir);
  ~LocalSlurm();
  LocalSlurm(const LocalSlurm&) = delete;
  LocalSlurm& operator=(const LocalSlurm&) = delete;

  bool running() const { return ctld_pid_ > 0; }
  const QString& why() const { return why_; }

 private:
  qint64 ctld_pid_ = 0, slurmd_pid_ = 0;
  QString why_;
};

}  // namespace qatwb::test
