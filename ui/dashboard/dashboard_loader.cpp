#include "ui/dashboard/dashboard_loader.h"

#include <QPointer>
#include <QThread>

#include "core/store/store.h"

namespace qatwb::ui {

DashboardResult load_dashboard(store::Store& store, const DashboardRequest& request) {
  DashboardResult out;
  try {
    for (int64_t run : request.runs) {
      auto info = store.run_info(run);
      if (!info) continue;
      if (info->status != "running" && info->status != "unknown") continue;
      if (request.ingest) {
        try {
          out.ingested_lines += store.ingest_run_dir(info->run_dir);
        } catch (const std::exception& e) {
          out.error = e.what();  // a vanished run folder: show what is stored
        }
        info = store.run_info(run);
      }
      if (info && (info->status == "running" || info->status == "unknown")) out.live = true;
    }
    for (size_t k = 0; k < request.keys.size(); ++k) {
      report::ChartQuery q;
      q.x = request.x;
      q.max_points = request.max_points;
      if (k < request.zoom.size()) q.step_min = request.zoom[k].first, q.step_max = request.zoom[k].second;
      std::vector<int64_t> present;
      for (int64_t run : request.runs)
        if (store.run_info(run)) present.push_back(run);
      out.charts.push_back(report::metric_chart(store, present, request.keys[k], q));
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

DashboardLoader::DashboardLoader() : thread_(new QThread), worker_(new QObject) {
  thread_->setObjectName("qatwb-dashboard-loader");
  worker_->moveToThread(thread_);
  connect(thread_, &QThread::finished, worker_, &QObject::deleteLater);
  thread_->start();
}

DashboardLoader::~DashboardLoader() {
  // Let a running load finish, then stop; the store is closed on this thread after the worker
  // thread stopped touching it.
  thread_->quit();
  thread_->wait();
  delete thread_;
  store_.reset();
}

void DashboardLoader::load(const DashboardRequest& request, QObject* receiver,
                           std::function<void(const DashboardResult&)> done) {
  QPointer<QObject> target(receiver);
  QMetaObject::invokeMethod(
      worker_,
      [this, request, target, done = std::move(done)]() {
        DashboardResult result;
        try {
          if (!store_ || store_path_ != request.db_path) {
            store_.reset();
            store_ = std::make_unique<store::Store>(
                store::Store::open_existing(request.db_path.toStdString()));
            store_path_ = request.db_path;
          }
          result = load_dashboard(*store_, request);
        } catch (const std::exception& e) {
          result.error = e.what();
        }
        // Posted to the receiver: it runs on the GUI thread, or never if the receiver is gone.
        if (target)
          QMetaObject::invokeMethod(
              target.data(), [done, result]() { done(result); }, Qt::QueuedConnection);
      },
      Qt::QueuedConnection);
}

}  // namespace qatwb::ui
