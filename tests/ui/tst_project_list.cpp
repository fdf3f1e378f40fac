// The project list shows the projects on disk, not only the ones made with the wizard: the YAML
// projects under <database folder>/../projects (subfolders too; sweeps and broken files left
// out), and by name the projects of the store's runs that have no file; opening such a project's
// file turns its entry into the file.
#include <QDir>
#include <QFile>
#include <QSettings>
#include <QTemporaryDir>
#include <QtTest>

#include "core/run/event_log.h"
#include "core/store/store.h"
#include "ui/main/main_window.h"

using namespace qatwb;

namespace {
void write(const QString& path, const QByteArray& text) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(text);
}
}  // namespace

class TestProjectList : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void lists_projects_on_disk_and_in_the_store() {
    QTemporaryDir tmp;
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp.path() + "/settings");
    const QString root = tmp.path() + "/repo";
    write(root + "/projects/alpha.yaml", "name: alpha\n");
    write(root + "/projects/tiny/beta.yaml", "name: beta\n");
    write(root + "/projects/broken.yaml", "name: [unclosed\n");
    write(root + "/projects/notes.txt", "name: not-a-yaml\n");
    const QString db = root + "/runs/qatwb.sqlite";
    QDir().mkpath(root + "/runs/g");
    {
      run::EventWriter w((root + "/runs/g/events.jsonl").toStdString());
      run::StartInfo s;
      s.run = "g";
      s.project = "gamma";
      w.start(s);
    }
    {
      auto store = store::Store::open(db.toStdString());
      store.ingest_run_dir((root + "/runs/g").toStdString());
    }
    ui::MainWindow w(db);
    w.set_persistent(false);
    QStringList files = w.projects();
    files.sort();
    QCOMPARE(files, QStringList({QDir(root).canonicalPath() + "/projects/alpha.yaml",
                                 QDir(root).canonicalPath() + "/projects/tiny/beta.yaml"}));
    QStringList names = w.project_names();
    names.sort();
    QCOMPARE(names, QStringList({"alpha", "beta", "gamma"}));
    // gamma's file found later: its entry becomes the file, no second "gamma".
    write(tmp.path() + "/elsewhere/gamma.yaml", "name: gamma\n");
    QVERIFY(w.open_project(tmp.path() + "/elsewhere/gamma.yaml", true));
    QCOMPARE(w.project_names().count("gamma"), 1);
    QVERIFY(
        w.projects().contains(QFileInfo(tmp.path() + "/elsewhere/gamma.yaml").absoluteFilePath()));
  }
};

QTEST_MAIN(TestProjectList)
#include "tst_project_list.moc"
