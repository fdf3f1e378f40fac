// The log pane of a run started with `qatwb run` in a terminal (no worker.log): its events.jsonl
// followed as log lines (start, headline metrics without the per-layer keys, evaluations,
// warnings, the end), complete lines only, and chosen by the main window for such a run; no
// machine path is shown in the pane.
#include <QFile>
#include <QSettings>
#include <QTemporaryDir>
#include <QtTest>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "ui/main/main_window.h"
#include "ui/widgets/log_tail_view.h"

using namespace qatwb;

class TestLogPane : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void events_as_log_lines() {
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("cli-run").toStdString());
    dir.create();
    {
      run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
      run::StartInfo s;
      s.run = "cli-run";
      s.project = "p";
      s.host = "box";
      s.device = "cpu";
      w.start(s);
      w.metric(0, {{"loss", 2.0}, {"lr", 0.001}, {"grad_norm/model.layers.0.mlp.up_proj", 0.5}});
      w.warning(1, "loss spike", "spike");
      w.eval(1, {{"ppl_postquant", 412.5}});
      w.checkpoint(2, "/elsewhere/machine/runs/p/cli-run/checkpoints/step-00000002");
    }
    ui::LogTailView view;
    view.set_events_file(QString::fromStdString(dir.events_path()));
    QVERIFY(view.following_events());
    const QStringList lines = view.toPlainText().split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 5);
    QVERIFY2(lines[0].endsWith("start cli-run (project p) on box cpu"), qPrintable(lines[0]));
    QVERIFY2(lines[1].endsWith("step 0  loss 2  lr 0.001"), qPrintable(lines[1]));
    QVERIFY(!view.toPlainText().contains("grad_norm/"));
    QVERIFY2(lines[2].endsWith("warning step 1: loss spike"), qPrintable(lines[2]));
    QVERIFY2(lines[3].endsWith("eval step 1: ppl_postquant 412.5"), qPrintable(lines[3]));
    // A checkpoint reads as its place in the run, not the machine path the trainer logged.
    QVERIFY2(lines[4].endsWith("checkpoint step 2: checkpoints/step-00000002"),
             qPrintable(lines[4]));

    // Half a line is held back until its newline arrives.
    QFile f(QString::fromStdString(dir.events_path()));
    QVERIFY(f.open(QIODevice::Append));
    f.write(R"({"v":1,"type":"end","time":1700000000,"status":"finished",)");
    f.flush();
    view.refresh();
    QCOMPARE(view.toPlainText().split('\n', Qt::SkipEmptyParts).size(), 5);
    f.write("\"reason\":\"done\"}\n");
    f.close();
    view.refresh();
    const QStringList after = view.toPlainText().split('\n', Qt::SkipEmptyParts);
    QCOMPARE(after.size(), 6);
    QVERIFY2(after[5].endsWith("end: finished (done)"), qPrintable(after[5]));
  }

  void main_window_follows_a_cli_run() {
    QTemporaryDir tmp;
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp.path() + "/settings");
    const QString db = tmp.filePath("runs.sqlite");
    run::RunDir dir(tmp.filePath("cli").toStdString());
    dir.create();
    {
      run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
      run::StartInfo s;
      s.run = "cli";
      s.project = "p";
      w.start(s);
      w.metric(0, {{"loss", 3.5}});
    }
    int64_t id = 0;
    {
      auto store = store::Store::open(db.toStdString());
      store.ingest_run_dir(dir.path());
      id = store.find_run(dir.path());
    }
    ui::MainWindow w(db);
    w.set_persistent(false);
    w.refresh_runs_now();
    w.select_runs({id});
    QVERIFY(w.log_view()->following_events());
    QTRY_VERIFY(w.log_view()->toPlainText().contains("step 0  loss 3.5"));
    QVERIFY(!w.log_view()->toPlainText().contains(tmp.path()));
    QVERIFY(!w.log_view()->placeholderText().contains(tmp.path()));
  }
};

QTEST_MAIN(TestLogPane)
#include "tst_log_pane.moc"
