#include "tests/common/daemons.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QFile>
#include <QStringList>
#include <QThread>

#include "tests/common/test_env.h"

namespace qatwb::test {

int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : -1;
}

void stop_daemon(qint64 pid) {
  if (pid <= 0) return;
  kill(static_cast<pid_t>(pid), SIGTERM);
  for (int i = 0; i < 50 && kill(static_cast<pid_t>(pid), 0) == 0; ++i) {
    QFile stat(QString("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly)) return;
    const QByteArray text = stat.readAll();
    const int paren = text.lastIndexOf(')');
    if (paren < 0 || paren + 2 >= text.size() || text[paren + 2] == 'Z') return;
    QThread::msleep(100);
  }
  kill(static_cast<pid_t>(pid), SIGKILL);
}

LocalSlurm::LocalSlurm(const QString& dir) {
  auto r = run_process("bash",
                       {source_dir() + "/tests/scripts/start_slurm.sh", dir,
                        QString::number(free_tcp_port()), QString::number(free_tcp_port())},
                       {}, 60000);
  const QStringList pids = QString::fromUtf8(r.out).trimmed().split(' ');
  if (r.exit_code != 0 || pids.size() != 2) {
    why_ = QString::fromUtf8(r.err).trimmed();
    if (why_.isEmpty()) why_ = "start_slurm.sh failed";
    return;
  }
  ctld_pid_ = pids[0].toLongLong();
  slurmd_pid_ = pids[1].toLongLong();
  qputenv("SLURM_CONF", (dir + "/slurm.conf").toUtf8());
}

LocalSlurm::~LocalSlurm() {
  stop_daemon(slurmd_pid_);
  stop_daemon(ctld_pid_);
}

}  // namespace qatwb::test
