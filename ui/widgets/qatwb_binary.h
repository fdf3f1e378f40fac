// Where the GUI finds things outside itself: the qatwb CLI (run as a child process for
// training, model inspection and export) and the run database.
#pragma once
#include <QString>

namespace qatwb::ui {

// $QATWB_BIN if set, else qatwb next to this program, else qatwb on $PATH, else "qatwb".
QString qatwb_binary();
// The --db option when given, else $QATWB_DB, else store::default_db_path().
QString database_path(const QString& option = {});

}  // namespace qatwb::ui
