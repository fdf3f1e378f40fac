// Where the GUI finds things outside itself: the qatwb CLI (run as a child process for
// training, model inspection and export), the run database and the ssh hosts file. The GUI's
// environment variables are read here, at its edge, and nowhere else in ui/ (core reads none).
#pragma once
#include <QString>

#include "core/jobs/hosts_config.h"

namespace qatwb::ui {

// $QATWB_BIN if set, else qatwb next to this program, else qatwb on $PATH, else "qatwb".
QString qatwb_binary();
// The --db option when given, else $QATWB_DB, else store::kDefaultDbPath.
QString database_path(const QString& option = {});
// $QATWB_HOSTS, else $HOME/.config/qatwb/hosts.yaml (jobs::default_hosts_path).
QString hosts_file();
// $HOME: what ~/ means in the hosts file.
QString home_dir();
// The hosts of hosts_file(); throws qatwb::Error as jobs::load_hosts_config does.
jobs::HostsConfig load_hosts();

}  // namespace qatwb::ui
