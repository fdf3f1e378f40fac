#include "ui/models/run_list_poller.h"

#include <QMetaType>

#include "core/store/store.h"

namespace qatwb::ui {

RunListPoller::RunListPoller(QObject* parent)
    : QObject(parent), worker_("qatwb-run-list", open_store) {
  qRegisterMetaType<std::vector<RunRow>>();
  connect(&timer_, &QTimer::timeout, this, &RunListPoller::refresh_now);
}

RunListPoller::~RunListPoller() { timer_.stop(); }

void RunListPoller::set_database(const QString& db_path) {
  worker_.set_database(db_path);
  refresh_now();
}

void RunListPoller::start(int interval_ms) {
  timer_.start(interval_ms);
  refresh_now();
}

void RunListPoller::stop() { timer_.stop(); }

void RunListPoller::refresh_now() {
  if (worker_.database().isEmpty()) return;
  if (busy_) {
    pending_ = true;
    return;
  }
  busy_ = true;
  worker_.post(
      this, [](store::Store& store) { return load_run_rows(store); },
      [this](const std::vector<RunRow>& rows) {
        Q_EMIT rows_ready(rows);
        load_done();
      },
      [this](const QString& message) {
        Q_EMIT failed(message);
        load_done();
      });
}

void RunListPoller::load_done() {
  busy_ = false;
  if (pending_) {
    pending_ = false;
    refresh_now();
  }
}

}  // namespace qatwb::ui
