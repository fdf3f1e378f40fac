// Reloads the run list off the GUI thread: a worker object on its own QThread opens its own Store
// (a sqlite3 handle belongs to one thread) and delivers fresh rows to the GUI thread through a
// queued signal. Requests made while a load is under way collapse into one more load.
#pragma once
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QThread>
#include <QTimer>
#include <vector>

#include "ui/models/run_row.h"

namespace qatwb::ui {

class RunListPoller : public QObject {
  Q_OBJECT

 public:
  explicit RunListPoller(QObject* parent = nullptr);
  ~RunListPoller() override;  // stops and joins the worker thread

  void set_database(const QString& db_path);
  void start(int interval_ms = 1000);  // periodic refresh (and one now)
  void stop();
  void refresh_now();

 Q_SIGNALS:
  void rows_ready(const std::vector<qatwb::ui::RunRow>& rows);
  void failed(const QString& message);

 private:
  QThread thread_;
  QObject* worker_ = nullptr;
  QTimer timer_;
  QString db_path_;
  bool busy_ = false;
  bool pending_ = false;
};

}  // namespace qatwb::ui

Q_DECLARE_METATYPE(std::vector<qatwb::ui::RunRow>)
