#include "ui/widgets/qatwb_binary.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QStandardPaths>

#include "core/store/store.h"

namespace qatwb::ui {

QString qatwb_binary() {
  const QString env = qEnvironmentVariable("QATWB_BIN");
  if (!env.isEmpty()) return env;
  if (QCoreApplication::instance()) {
    const QString next = QCoreApplication::applicationDirPath() + "/qatwb";
    if (QFileInfo(next).isExecutable()) return next;
  }
  const QString on_path = QStandardPaths::findExecutable("qatwb");
  return on_path.isEmpty() ? QStringLiteral("qatwb") : on_path;
}

QString database_path(const QString& option) {
  if (!option.isEmpty()) return option;
  return QString::fromStdString(
      store::default_db_path(qEnvironmentVariable("QATWB_DB").toStdString()));
}

QString hosts_file() {
  return QString::fromStdString(jobs::default_hosts_path(
      qEnvironmentVariable("QATWB_HOSTS").toStdString(), home_dir().toStdString()));
}

QString home_dir() { return qEnvironmentVariable("HOME"); }

jobs::HostsConfig load_hosts() {
  return jobs::load_hosts_config(hosts_file().toStdString(), home_dir().toStdString());
}

}  // namespace qatwb::ui
