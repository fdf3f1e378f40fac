// "Run project" asks before it submits: the confirmation names the project, where it runs (the
// project's runner section when Jobs says "as the project says": here Slurm with its host,
// partition, nodes x ranks, GPUs and time limit) and what it trains; cancelling submits nothing.
#include <QAbstractButton>
#include <QApplication>
#include <QMessageBox>
#include <QSettings>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "core/store/store.h"
#include "tests/common/micro_project.h"
#include "ui/jobs/jobs_view.h"
#include "ui/main/main_window.h"

using namespace qatwb;

class TestRunConfirmation : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void asks_where_and_what() {
    QTemporaryDir tmp;
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp.path() + "/settings");
    const QString yaml = test::write_micro_project(
        tmp.path(), "confirm-me", tmp.path() + "/corpus.jsonl", {},
        "quant: {bits: 2, surrogate: stableqat}\n"
        "runner: {kind: slurm, host: login1, partition: gpu, gpus: 4, time_limit: \"01:00:00\"}\n");
    const QString db = tmp.filePath("runs.sqlite");
    store::Store::open(db.toStdString());
    ui::MainWindow w(db);
    w.set_persistent(false);
    w.show();
    QVERIFY(w.open_project(yaml, true));
    w.show_tab(ui::MainWindow::DashboardTab);

    const QString text = w.run_confirmation_text(yaml);
    QVERIFY2(text.startsWith("Run confirm-me?"), qPrintable(text));
    QVERIFY2(text.contains("Project: " + yaml), qPrintable(text));
    // Ranks follow the GPUs: 4 GPUs on one node are 4 ranks.
    QVERIFY2(
        text.contains("Where: Slurm via login1, partition gpu, 1 node(s) x 4 rank(s), 4 GPU(s) "
                      "per node, time limit 01:00:00"),
        qPrintable(text));
    QVERIFY2(text.contains("What: 8 steps of 4 x 32 tokens"), qPrintable(text));
    QVERIFY2(text.contains("stableqat"), qPrintable(text));

    // The box is shown by "Run project"; Cancel submits nothing and stays on the dashboard.
    QString shown;
    QTimer::singleShot(50, [&] {
      auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
      if (!box) return;
      shown = box->text();
      box->button(QMessageBox::Cancel)->click();
    });
    w.run_project();
    QCOMPARE(shown, text);
    QCOMPARE(w.tabs()->currentIndex(), int(ui::MainWindow::DashboardTab));
    auto* jobs = w.jobs()->findChild<QTableView*>("jobs_table");
    QVERIFY(jobs);
    QTest::qWait(300);
    QCOMPARE(jobs->model()->rowCount(), 0);
  }
};

QTEST_MAIN(TestRunConfirmation)
#include "tst_run_confirmation.moc"
