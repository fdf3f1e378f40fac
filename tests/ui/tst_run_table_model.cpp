// RunTableModel over a real SQLite store filled by ingesting run directories written with
// core/run's EventWriter: columns, incremental refresh (selection survives), proxy filter and
// numeric sort, QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QDir>
#include <QItemSelectionModel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "core/run/event_log.h"
#include "core/store/store.h"
#include "ui/models/run_list_poller.h"
#include "ui/models/run_table_model.h"

using qatwb::ui::RunFilterProxy;
using qatwb::ui::RunTableModel;

namespace {

std::string make_run(const QString& root, const QString& name, const std::string& surrogate,
                     double bits, int steps_total) {
  const QString dir = root + "/" + name;
  QDir().mkpath(dir);
  qatwb::run::EventWriter w((dir + "/events.jsonl").toStdString());
  qatwb::run::StartInfo s;
  s.run = name.toStdString();
  s.project = "proj";
  s.config_json = R"({"name":"proj","quant":{"enabled":)" +
                  std::string(surrogate == "fp" ? "false" : "true") + R"(,"surrogate":")" +
                  surrogate + R"(","bits":)" + std::to_string(bits) + R"(,"format":"int"},)" +
                  R"("train":{"steps":)" + std::to_string(steps_total) + "}}";
  w.start(s);
  return dir.toStdString();
}

}  // namespace

class TestRunTableModel : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void columns_refresh_and_selection();
  void proxy_filter_and_numeric_sort();
  void poller_delivers_rows_off_thread();

 private:
  QTemporaryDir tmp_;
};

void TestRunTableModel::columns_refresh_and_selection() {
  const QString db = tmp_.path() + "/a.sqlite";
  auto store = qatwb::store::Store::open(db.toStdString());
  const std::string a = make_run(tmp_.path() + "/runs", "run-a", "ste", 2, 100);
  {
    qatwb::run::EventWriter w(a + "/events.jsonl");
    w.metric(0, {{"loss", 5.0}});  // metric steps are 0-based: step 49 is the 50th
    w.metric(49, {{"loss", 3.25}});
    w.eval(50, {{"ppl_postquant", 40.0}});
  }
  store.ingest_run_dir(a);

  RunTableModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
  model.refresh_from(db);
  QCOMPARE(model.rowCount(), 1);
  auto cell = [&](int row, int col) { return model.index(row, col).data().toString(); };
  QCOMPARE(cell(0, RunTableModel::Name), QString("run-a"));
  QCOMPARE(cell(0, RunTableModel::Project), QString("proj"));
  QCOMPARE(cell(0, RunTableModel::Surrogate), QString("ste"));
  QCOMPARE(cell(0, RunTableModel::Bits), QString("2"));
  QCOMPARE(cell(0, RunTableModel::Progress), QString("50/100 (50%)"));
  QCOMPARE(cell(0, RunTableModel::LastLoss), QString("3.25"));
  QCOMPARE(cell(0, RunTableModel::BestPpl), QString("40"));

  QItemSelectionModel selection(&model);
  selection.select(model.index(0, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
  QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
  QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
  QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);

  // Nothing new: no signal at all.
  model.refresh_from(db);
  QCOMPARE(changed.count(), 0);
  QCOMPARE(inserted.count(), 0);

  // Progress on run a (lower PPL later, higher later still: best stays the lowest), and a new
  // unquantized run b.
  {
    qatwb::run::EventWriter w(a + "/events.jsonl");
    w.metric(99, {{"loss", 2.5}});
    w.eval(75, {{"ppl_postquant", 30.0}});
    w.eval(100, {{"ppl_postquant", 35.0}});
    w.end("finished", "done");
  }
  store.ingest_run_dir(a);
  const std::string b = make_run(tmp_.path() + "/runs", "run-b", "fp", 16, 10);
  store.ingest_run_dir(b);
  model.refresh_from(db);
  QCOMPARE(reset.count(), 0);
  QCOMPARE(changed.count(), 1);
  QCOMPARE(changed.at(0).at(0).value<QModelIndex>().row(), 0);
  QCOMPARE(inserted.count(), 1);
  QCOMPARE(model.rowCount(), 2);
  QCOMPARE(cell(0, RunTableModel::Progress), QString("100/100 (100%)"));
  QCOMPARE(cell(0, RunTableModel::BestPpl), QString("30"));
  QCOMPARE(cell(0, RunTableModel::Status), QString("finished"));
  QCOMPARE(cell(1, RunTableModel::Surrogate), QString("fp"));
  QCOMPARE(cell(1, RunTableModel::Bits), QString("16"));
  QCOMPARE(cell(1, RunTableModel::Progress), QString());
  QVERIFY(selection.isRowSelected(0, {}));
  QCOMPARE(model.index(1, 0).data(RunTableModel::RunIdRole).value<qint64>(),
           qint64(store.find_run(b)));
}

void TestRunTableModel::proxy_filter_and_numeric_sort() {
  const QString db = tmp_.path() + "/b.sqlite";
  auto store = qatwb::store::Store::open(db.toStdString());
  const QString root = tmp_.path() + "/runs-b";
  // Losses 10, 9, 100: a text sort would put "100" before "9".
  const std::vector<std::pair<std::string, double>> runs = {
      {"ste", 10}, {"stableqat", 9}, {"dsq", 100}};
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string dir = make_run(root, QString("r%1").arg(i), runs[i].first, 2, 10);
    qatwb::run::EventWriter w(dir + "/events.jsonl");
    w.metric(1, {{"loss", runs[i].second}});
    store.ingest_run_dir(dir);
  }
  RunTableModel model;
  RunFilterProxy proxy;
  proxy.setSourceModel(&model);
  QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
  model.refresh_from(db);
  QCOMPARE(proxy.rowCount(), 3);
  proxy.sort(RunTableModel::LastLoss, Qt::AscendingOrder);
  QCOMPARE(proxy.index(0, RunTableModel::LastLoss).data().toString(), QString("9"));
  QCOMPARE(proxy.index(1, RunTableModel::LastLoss).data().toString(), QString("10"));
  QCOMPARE(proxy.index(2, RunTableModel::LastLoss).data().toString(), QString("100"));
  proxy.set_filter_text("STABLE");
  QCOMPARE(proxy.rowCount(), 1);
  QCOMPARE(proxy.index(0, RunTableModel::Surrogate).data().toString(), QString("stableqat"));
  proxy.set_filter_text("r2");
  QCOMPARE(proxy.rowCount(), 1);
  proxy.set_filter_text("nothing-like-this");
  QCOMPARE(proxy.rowCount(), 0);
  proxy.set_filter_text("");
  QCOMPARE(proxy.rowCount(), 3);
}

void TestRunTableModel::poller_delivers_rows_off_thread() {
  const QString db = tmp_.path() + "/a.sqlite";  // from the first test: two runs
  qatwb::ui::RunListPoller poller;
  QSignalSpy spy(&poller, &qatwb::ui::RunListPoller::rows_ready);
  poller.set_database(db);
  QVERIFY(spy.wait(10000));
  const auto rows = spy.at(0).at(0).value<std::vector<qatwb::ui::RunRow>>();
  QCOMPARE(int(rows.size()), 2);
  QCOMPARE(QString::fromStdString(rows[0].name), QString("run-a"));

  QSignalSpy failed(&poller, &qatwb::ui::RunListPoller::failed);
  poller.set_database(tmp_.path() + "/a.sqlite/nope.sqlite");
  QVERIFY(failed.wait(10000));
  QVERIFY(!failed.at(0).at(0).toString().isEmpty());
}

QTEST_MAIN(TestRunTableModel)
#include "tst_run_table_model.moc"
