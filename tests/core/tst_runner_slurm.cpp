// A project's runner section on Slurm: runner.nodes / tasks_per_node / account parse (bad values
// named by file:line: field), round-trip through to_yaml, and become the sbatch script's lines
// with ranks following GPUs (gpus: 4 -> --ntasks-per-node=4 unless tasks_per_node is set); options
// given on the command line win over the project's.
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include "core/jobs/runner_slurm.h"
#include "core/jobs/slurm_script.h"
#include "core/project/project_yaml.h"
#include "core/util/error.h"

using namespace qatwb;

namespace {

std::string write(const QTemporaryDir& dir, const QString& name, const QString& runner) {
  const QString path = dir.filePath(name);
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
  f.write(("name: r\nmodel: {preset: llama-micro}\ndata: {sources: [{path: x.jsonl}]}\n"
           "runner: " +
           runner + "\n")
              .toUtf8());
  return path.toStdString();
}

std::string sbatch_for(const project::RunnerSection& r, jobs::SlurmOptions opts = {}) {
  jobs::fill_slurm_options(r, opts);
  return jobs::make_sbatch_script(opts, {"qatwb", "run", "p.yaml"});
}

}  // namespace

class TestRunnerSlurm : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void ranks_follow_gpus() {
    QTemporaryDir dir;
    const auto c = project::load_project(
        write(dir, "a.yaml", "{kind: slurm, partition: gpu, gpus: 4, time_limit: '01:00:00'}"));
    QCOMPARE(c.runner.nodes, 1);
    QCOMPARE(c.runner.tasks_per_node, 0);
    QCOMPARE(c.runner.ranks_per_node(), 4);
    const std::string s = sbatch_for(c.runner);
    QVERIFY2(s.find("#SBATCH --ntasks-per-node=4\n") != std::string::npos, s.c_str());
    QVERIFY(s.find("#SBATCH --gres=gpu:4\n") != std::string::npos);
    QVERIFY(s.find("#SBATCH --nodes=1\n") != std::string::npos);
    // No GPUs: one rank.
    project::RunnerSection cpu;
    cpu.kind = jobs::LauncherKind::Slurm;
    QVERIFY(sbatch_for(cpu).find("#SBATCH --ntasks-per-node=1\n") != std::string::npos);
  }

  void explicit_tasks_nodes_and_account() {
    QTemporaryDir dir;
    const auto c = project::load_project(write(
        dir, "b.yaml", "{kind: slurm, gpus: 4, nodes: 2, tasks_per_node: 2, account: proj1}"));
    QCOMPARE(c.runner.nodes, 2);
    QCOMPARE(c.runner.tasks_per_node, 2);
    QCOMPARE(QString::fromStdString(c.runner.account), QString("proj1"));
    const std::string s = sbatch_for(c.runner);
    for (const char* line : {"#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=2\n",
                             "#SBATCH --gres=gpu:4\n", "#SBATCH --account=proj1\n"})
      QVERIFY2(s.find(line) != std::string::npos, (std::string(line) + s).c_str());
    // The command line wins (qatwb jobs submit --tasks-per-node 1 --account other).
    jobs::SlurmOptions cli;
    cli.tasks_per_node = 1;
    cli.account = "other";
    const std::string s2 = sbatch_for(c.runner, cli);
    QVERIFY(s2.find("#SBATCH --ntasks-per-node=1\n") != std::string::npos);
    QVERIFY(s2.find("#SBATCH --account=other\n") != std::string::npos);
    // The emitted YAML loads back to the same runner.
    const QString again = dir.filePath("again.yaml");
    QFile f(again);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(project::to_yaml(c).c_str());
    f.close();
    const auto c2 = project::load_project(again.toStdString());
    QCOMPARE(c2.runner.nodes, 2);
    QCOMPARE(c2.runner.tasks_per_node, 2);
    QCOMPARE(c2.runner.account, c.runner.account);
  }

  void bad_values_are_named() {
    QTemporaryDir dir;
    const std::string p =
        write(dir, "bad.yaml", "{kind: slurm, nodes: 0, tasks_per_node: -1, account: 'two words'}");
    try {
      project::load_project(p);
      QFAIL("accepted bad runner values");
    } catch (const project::ProjectErrors& e) {
      const QString m = e.what();
      QVERIFY2(
          m.contains(QString::fromStdString(p) + ":4:") && m.contains("runner.nodes: must be >= 1"),
          qPrintable(m));
      QVERIFY2(m.contains("runner.tasks_per_node: must be >= 0"), qPrintable(m));
      QVERIFY2(m.contains("runner.account: must be one word"), qPrintable(m));
    }
  }
};

QTEST_GUILESS_MAIN(TestRunnerSlurm)
#include "tst_runner_slurm.moc"
