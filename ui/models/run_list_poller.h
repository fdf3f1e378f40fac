// Reloads the run list off the GUI thread: a StoreWorker (its own thread with its own Store, as a
// sqlite3 handle belongs to one thread) loads the rows and they come back to the GUI thread as
// rows_ready. Requests made while a load is under way collapse into one more load.
#pragma once
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QTimer>
#include <vector>

#include "ui/models/run_row.h"
#include "ui/widgets/store_worker.h"

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
  void load_done();
  StoreWorker<store::Store> worker_;
  QTimer timer_;
  bool busy_ = false;
  bool pending_ = false;
};

}  // namespace qatwb::ui

Q_DECLARE_METATYPE(std::vector<qatwb::ui::RunRow>)
