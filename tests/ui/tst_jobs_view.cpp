// The jobs view over a real registry: a local job whose worker is the fake trainer is shown
// running (with its worker.log) and then succeeded; cancel stops a second one, resume restarts
// it to success; a fresh view over the same database re-attaches to both.
#include <QAbstractButton>
#include <QFile>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include "tests/common/test_env.h"
#include "ui/jobs/job_table_model.h"
#include "ui/jobs/jobs_view.h"
#include "ui/widgets/log_tail_view.h"

using qatwb::jobs::JobState;
using qatwb::ui::JobsView;

class TestJobsView : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase();
  void start_run_succeed_cancel_resume_reattach();
  void duration_text();

 private:
  JobState state_of(JobsView& v, qint64 id) {
    const auto* r = v.model()->find(id);
    return r ? r->job.state : JobState::Queued;
  }
  QTemporaryDir tmp_;
  QString project_;
  QString fake_;
};

void TestJobsView::initTestCase() {
  fake_ = qEnvironmentVariable("QATWB_FAKE_TRAINER");
  QVERIFY2(QFile::exists(fake_), "QATWB_FAKE_TRAINER is not built");
  project_ = tmp_.path() + "/fake.yaml";
  QFile f(project_);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write("name: fakeproj\n");
}

void TestJobsView::start_run_succeed_cancel_resume_reattach() {
  const QString db = tmp_.path() + "/jobs.sqlite";
  qint64 first = -1, second = -1;
  {
    JobsView view(db);
    view.resize(900, 600);
    view.show();
    view.set_worker_command({fake_, "--steps", "25", "--delay-ms", "120"});
    QSignalSpy submitted(&view, &JobsView::job_submitted);
    view.start_project(project_);
    QVERIFY(submitted.wait(20000));
    first = submitted.at(0).at(0).value<qint64>();
    QTRY_COMPARE_WITH_TIMEOUT(state_of(view, first), JobState::Running, 20000);
    // The new job is selected; its worker.log is followed.
    QCOMPARE(view.selected_job(), first);
    QVERIFY(view.log_view()->file().endsWith("worker.log"));
    QTRY_VERIFY_WITH_TIMEOUT(view.log_view()->toPlainText().contains("step"), 20000);
    const int row = 0;
    QCOMPARE(view.model()->index(row, qatwb::ui::JobTableModel::Project).data().toString(),
             QString("fake"));
    QVERIFY(view.model()
                ->index(row, qatwb::ui::JobTableModel::State)
                .data()
                .toString()
                .startsWith("running"));
    QTRY_COMPARE_WITH_TIMEOUT(state_of(view, first), JobState::Succeeded, 30000);
    QVERIFY(view.model()
                ->index(row, qatwb::ui::JobTableModel::Elapsed)
                .data()
                .toString()
                .endsWith("s"));
    auto* cancel = view.findChild<QAbstractButton*>("job_cancel");
    auto* resume = view.findChild<QAbstractButton*>("job_resume");
    QVERIFY(!cancel->isEnabled());  // finished jobs cannot be cancelled

    // A longer job: cancel it while it runs, then resume it to the end.
    view.set_worker_command({fake_, "--steps", "40", "--delay-ms", "100"});
    submitted.clear();
    view.start_project(project_);
    QVERIFY(submitted.wait(20000));
    second = submitted.at(0).at(0).value<qint64>();
    QTRY_COMPARE_WITH_TIMEOUT(state_of(view, second), JobState::Running, 20000);
    QTRY_COMPARE(view.selected_job(), second);
    QTRY_VERIFY(cancel->isEnabled());
    cancel->click();
    QTRY_COMPARE_WITH_TIMEOUT(state_of(view, second), JobState::Cancelled, 20000);
    QVERIFY(view.model()->find(second)->job.last_step < 40);
    QTRY_VERIFY(resume->isEnabled());
    resume->click();
    QTRY_COMPARE_WITH_TIMEOUT(state_of(view, second), JobState::Succeeded, 40000);
    QCOMPARE(view.model()->find(second)->job.attempts, 2);
  }
  // Re-attach: a fresh view (a new JobManager) over the same database sees both jobs.
  JobsView again(db);
  QTRY_COMPARE_WITH_TIMEOUT(again.model()->rowCount(), 2, 20000);
  QCOMPARE(state_of(again, first), JobState::Succeeded);
  QCOMPARE(state_of(again, second), JobState::Succeeded);
  again.findChild<QAbstractButton*>("job_reattach")->click();
  QVERIFY(again.message().contains("Re-attached"));

  // A project that does not exist: the error is shown, nothing crashes.
  again.start_project(tmp_.path() + "/missing.yaml");
  QTRY_VERIFY_WITH_TIMEOUT(
      again.message().contains("missing.yaml") && !again.message().startsWith("Submitting"), 20000);
}

void TestJobsView::duration_text() {
  QCOMPARE(qatwb::ui::duration_text(42), QString("42s"));
  QCOMPARE(qatwb::ui::duration_text(185), QString("3m 05s"));
  QCOMPARE(qatwb::ui::duration_text(7260), QString("2h 01m"));
  QCOMPARE(qatwb::ui::duration_text(NAN), QString());
  qatwb::ui::JobRow r;
  r.job.state = JobState::Running;
  r.job.created = 1000;
  r.now = 1010;  // 10 s for 20 of 100 steps -> 40 s left
  r.job.last_step = 20;
  r.total_steps = 100;
  QCOMPARE(r.eta_s(), 40.0);
}

QTEST_MAIN(TestJobsView)
#include "tst_jobs_view.moc"
