// Tags and notes in the GUI: two runs of the same name from copied folders are told apart by
// the runs table's Tags column (its tooltip the note) and by the compare table's run cell; the
// "Tags and note" dialog refuses a bad tag next to the field and writes what it is given to the
// store; the text filter finds runs by tag. The Jobs launcher list offers ssh without a hosts
// file and, when it is chosen, says what the hosts file needs instead of submitting.
#include <QAbstractButton>
#include <QApplication>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "core/report/summary_table.h"
#include "core/run/event_log.h"
#include "core/store/store.h"
#include "ui/jobs/job_table_model.h"
#include "ui/jobs/jobs_view.h"
#include "ui/main/main_window.h"
#include "ui/models/run_table_model.h"
#include "ui/widgets/field_message.h"
#include "ui/widgets/run_notes_dialog.h"

using namespace qatwb;

namespace {

// Two runs named "w2" in two folders (a copied runs folder ingested beside the original).
QList<qint64> two_copies(const QString& root, const QString& db) {
  auto store = store::Store::open(db.toStdString());
  QList<qint64> ids;
  for (const char* lab : {"lab-a", "lab-b"}) {
    const QString dir = root + "/" + lab + "/runs/tiny/w2";
    QDir().mkpath(dir);
    {
      run::EventWriter w((dir + "/events.jsonl").toStdString());
      run::StartInfo s;
      s.run = "w2";
      s.project = "tiny";
      w.start(s);
      w.metric(0, {{"loss", 1.0}});
      w.end("finished", "");
    }
    store.ingest_run_dir(dir.toStdString());
    ids << store.find_run(dir.toStdString());
  }
  return ids;
}

QString tags_cell(const ui::RunTableModel& m, qint64 id) {
  return m.index(m.row_of(id), ui::RunTableModel::Tags).data().toString();
}

}  // namespace

class TestRunTags : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void table_shows_tags_and_note() {
    QTemporaryDir tmp;
    const QString db = tmp.filePath("runs.sqlite");
    const auto ids = two_copies(tmp.path(), db);
    {
      auto store = store::Store::open(db.toStdString());
      store.set_tags(ids[0], {"lab-a", "baseline"});
      store.set_note(ids[0], "the original");
    }
    ui::RunTableModel m;
    m.refresh_from(db);
    QCOMPARE(m.rowCount(), 2);
    QCOMPARE(m.headerData(ui::RunTableModel::Tags, Qt::Horizontal).toString(), QString("Tags"));
    QCOMPARE(tags_cell(m, ids[0]), QString("baseline, lab-a"));
    QCOMPARE(tags_cell(m, ids[1]), QString());
    QCOMPARE(m.index(m.row_of(ids[0]), ui::RunTableModel::Tags).data(Qt::ToolTipRole).toString(),
             QString("the original"));
    // A later refresh picks up a tag written elsewhere (the CLI) in place.
    store::Store::open(db.toStdString()).add_tags(ids[1], {"lab-b"});
    QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
    m.refresh_from(db);
    QCOMPARE(tags_cell(m, ids[1]), QString("lab-b"));
    QVERIFY(!changed.isEmpty());
    // The filter finds runs by tag.
    ui::RunFilterProxy proxy;
    proxy.setSourceModel(&m);
    proxy.set_filter_text("baseline");
    QCOMPARE(proxy.rowCount(), 1);
    proxy.set_filter_text("lab-");
    QCOMPARE(proxy.rowCount(), 2);
    // The compare/report table: same name, told apart by the tags in the run cell.
    auto store = store::Store::open_existing(db.toStdString());
    const auto rows = report::summary_rows(store, {ids[0], ids[1]});
    QCOMPARE(QString::fromStdString(report::summary_cell(rows[0], 0)),
             QString("w2 [baseline, lab-a]"));
    QCOMPARE(QString::fromStdString(report::summary_cell(rows[1], 0)), QString("w2 [lab-b]"));
    QVERIFY(report::summary_csv(rows).find(",baseline lab-a\n") != std::string::npos);
    QCOMPARE(report::summary_json(rows)[1]["tags"], nlohmann::json({"lab-b"}));
  }

  void dialog_edits_tags_and_note() {
    QTemporaryDir tmp;
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp.path() + "/settings");
    const QString db = tmp.filePath("runs.sqlite");
    const auto ids = two_copies(tmp.path(), db);
    ui::MainWindow w(db);
    w.set_persistent(false);
    w.show();
    w.refresh_runs_now();
    auto* runs = w.findChild<QTableView*>("runs");
    QVERIFY(runs);

    // A bad tag keeps OK disabled with the reason under the field; a good one is written.
    bool refused = false;
    QString message;
    QTimer::singleShot(50, [&] {
      auto* dialog = qobject_cast<ui::RunNotesDialog*>(QApplication::activeModalWidget());
      if (!dialog) return;
      auto* ok = dialog->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok);
      auto* tags = dialog->findChild<QLineEdit*>("run_tags");
      tags->setText("lab-a, bad\x01tag");
      refused = !ok->isEnabled();
      message = dialog->findChild<ui::FieldMessage*>("run_tags_message")->text();
      tags->setText("lab-a, w2-final");
      dialog->findChild<QPlainTextEdit*>("run_note")->setPlainText("from the lab-a copy");
      ok->click();
    });
    QVERIFY(w.edit_tags_and_note(ids[0]));
    QVERIFY(refused);
    QVERIFY2(message.contains("control characters"), qPrintable(message));
    {
      auto store = store::Store::open_existing(db.toStdString());
      QCOMPARE(store.tags(ids[0]), std::vector<std::string>({"lab-a", "w2-final"}));
      QCOMPARE(store.note(ids[0]), std::string("from the lab-a copy"));
      QVERIFY(store.tags(ids[1]).empty());
    }
    // The table shows it at once.
    const QAbstractItemModel* proxy = runs->model();
    bool shown = false;
    for (int r = 0; r < proxy->rowCount(); ++r)
      shown =
          shown || proxy->index(r, ui::RunTableModel::Tags).data().toString() == "lab-a, w2-final";
    QVERIFY(shown);
    // Cancel changes nothing.
    QTimer::singleShot(50, [&] {
      auto* dialog = qobject_cast<ui::RunNotesDialog*>(QApplication::activeModalWidget());
      if (!dialog) return;
      dialog->findChild<QLineEdit*>("run_tags")->setText("other");
      dialog->reject();
    });
    QVERIFY(!w.edit_tags_and_note(ids[0]));
    QCOMPARE(store::Store::open_existing(db.toStdString()).tags(ids[0]),
             std::vector<std::string>({"lab-a", "w2-final"}));
    // The store's own check stands behind the dialog.
    QString error;
    QVERIFY(!w.set_tags_and_note(ids[1], {"two words"}, "", &error));
    QVERIFY2(error.contains("a space"), qPrintable(error));
  }

  void jobs_offer_ssh_without_hosts_file() {
    QTemporaryDir tmp;
    const QString hosts = tmp.filePath("no-such-hosts.yaml");
    qputenv("QATWB_HOSTS", hosts.toUtf8());
    ui::JobsView view(tmp.filePath("jobs.sqlite"));
    auto* launcher = view.findChild<QComboBox*>("job_launcher");
    QVERIFY(launcher);
    const int ssh = launcher->findData(QString("ssh:"));
    QVERIFY2(ssh >= 0, "no ssh entry without a hosts file");
    const QString tip = launcher->itemData(ssh, Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(hosts) && tip.contains("remote_dir"), qPrintable(tip));
    launcher->setCurrentIndex(ssh);
    view.start_project(tmp.filePath("p.yaml"));
    QVERIFY2(view.message().contains("ssh needs a host in " + hosts), qPrintable(view.message()));
    QCOMPARE(view.model()->rowCount(), 0);  // nothing submitted
    qunsetenv("QATWB_HOSTS");
  }
};

QTEST_MAIN(TestRunTags)
#include "tst_run_tags.moc"
