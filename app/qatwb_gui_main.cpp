// qatwb-gui [--db FILE] [--project P.yaml] [--runs LIST] [--screenshot FILE.png [--size WxH]
//           [--tab T]]
// The desktop workbench (ui/main/main_window.h). With --screenshot it renders the main window to
// a PNG without a display (QT_QPA_PLATFORM=offscreen unless set) and exits: 0 when the file was
// written, 1 with a message otherwise.
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QPixmap>
#include <QRegularExpression>
#include <QTableView>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/store/store.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/main/main_window.h"
#include "ui/models/run_table_model.h"
#include "ui/widgets/qatwb_binary.h"

namespace {

bool wants_screenshot(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--screenshot") == 0 ||
        std::strncmp(argv[i], "--screenshot=", 13) == 0)
      return true;
  return false;
}

int fail(const QString& message) {
  std::fprintf(stderr, "qatwb-gui: %s\n", qPrintable(message));
  return 1;
}

void settle(int ms) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < ms) QApplication::processEvents(QEventLoop::AllEvents, 20);
}

}  // namespace

int main(int argc, char** argv) {
  // Before QApplication: a screenshot needs no display.
  if (wants_screenshot(argc, argv) && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setApplicationName("qatwb-gui");
  QApplication::setOrganizationName("qatwb");

  QCommandLineParser parser;
  parser.setApplicationDescription("qatwb desktop workbench: projects, runs, dashboards, jobs.");
  parser.addHelpOption();
  const QCommandLineOption db(QStringLiteral("db"),
                              "Run database (default: $QATWB_DB, else runs/qatwb.sqlite).", "FILE");
  const QCommandLineOption project(QStringLiteral("project"), "Open this project YAML.", "P.yaml");
  const QCommandLineOption shot(QStringLiteral("screenshot"),
                                "Render the main window to a PNG and exit.", "FILE.png");
  const QCommandLineOption size(QStringLiteral("size"), "Screenshot size (default 1360x860).",
                                "WxH");
  const QCommandLineOption tab(QStringLiteral("tab"),
                               "Tab to show: dashboard, compare, jobs or metrics.", "TAB");
  const QCommandLineOption runs(QStringLiteral("runs"),
                                "Runs to select (comma-separated ids, names or project/name; "
                                "default for a screenshot: every run).",
                                "LIST");
  parser.addOptions({db, project, shot, size, tab, runs});
  if (!parser.parse(QApplication::arguments())) return fail(parser.errorText());
  if (parser.isSet("help")) {
    std::fputs(qPrintable(parser.helpText()), stdout);
    return 0;
  }
  if (!parser.positionalArguments().isEmpty())
    return fail("unexpected argument '" + parser.positionalArguments().first() + "'");

  const QString db_path = qatwb::ui::database_path(parser.value(db));
  const bool screenshot = parser.isSet(shot);
  int width = 1360, height = 860;
  if (parser.isSet(size)) {
    static const QRegularExpression re("^(\\d+)x(\\d+)$");
    const auto m = re.match(parser.value(size));
    if (!m.hasMatch() || m.captured(1).toInt() < 200 || m.captured(2).toInt() < 150)
      return fail("--size: expected WxH (at least 200x150), got '" + parser.value(size) + "'");
    width = m.captured(1).toInt();
    height = m.captured(2).toInt();
  }

  QList<qint64> chosen;
  if (parser.isSet(runs)) {
    try {
      auto store = qatwb::store::Store::open_existing(db_path.toStdString());
      for (const QString& r : parser.value(runs).split(',', Qt::SkipEmptyParts))
        chosen << store.find_run(r.trimmed().toStdString());
    } catch (const std::exception& e) {
      return fail(QString("--runs: ") + QString::fromUtf8(e.what()));
    }
    if (chosen.isEmpty()) return fail("--runs: no run given");
  }

  qatwb::ui::MainWindow window(db_path);
  window.set_persistent(!screenshot);
  window.restore_settings();
  // A bad --project fails a screenshot; the interactive window says why and opens anyway.
  if (parser.isSet(project) && !window.open_project(parser.value(project), screenshot) &&
      screenshot)
    return fail(parser.value(project) + ": not a readable project");
  if (parser.isSet(tab) && !window.show_tab(parser.value(tab)))
    return fail("--tab: expected dashboard, compare, jobs or metrics, got '" + parser.value(tab) +
                "'");

  if (!screenshot) {
    window.show();
    if (!chosen.isEmpty()) {
      window.refresh_runs_now();
      window.select_runs(chosen);
    }
    return app.exec();
  }
  window.resize(width, height);
  window.show();
  window.refresh_runs_now();
  if (chosen.isEmpty())
    window.select_all_runs();
  else
    window.select_runs(chosen);
  window.dashboard()->refresh_now();
  settle(600);  // layouts, the jobs list's first poll, queued replots
  const QPixmap pixmap = window.grab();
  const QString out = parser.value(shot);
  if (pixmap.isNull()) return fail("could not render the window");
  if (!pixmap.save(out, "PNG")) return fail(out + ": cannot write the PNG");
  std::printf("%s\n", qPrintable(QFileInfo(out).absoluteFilePath()));
  return 0;
}
