// app/environment.h: every variable `qatwb` reads, parsed from a given set of values (the
// program reads them once at its edge; core reads none). Expected values are literals.
#include <QtTest>
#include <cstdlib>
#include <functional>
#include <map>

#include "app/environment.h"
#include "tests/common/error_of.h"

using qatwb::app::Environment;
using qatwb::test::error_of;
using Vars = std::map<std::string, std::string>;

namespace {

Environment env_of(Vars vars) { return Environment(std::move(vars)); }

}  // namespace

class TestEnvironment : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void defaults_when_nothing_is_set() {
    const Environment env = env_of({});
    QCOMPARE(env.db_path(), std::string("runs/qatwb.sqlite"));
    QCOMPARE(env.hosts_file(), std::string("./.config/qatwb/hosts.yaml"));
    QCOMPARE(env.home(), std::string());
    QCOMPARE(env.cache_root(), std::string());
    QCOMPARE(env.threads_per_rank(), 0);
    QCOMPARE(env.openmp_note(), std::string());
    const auto d = env.dist();
    QCOMPARE(d.rank, 0);
    QCOMPARE(d.world_size, 1);
    QCOMPARE(d.local_rank, 0);
    QCOMPARE(d.master_addr, std::string("127.0.0.1"));
    QCOMPARE(d.master_port, 29500);
    QVERIFY(!d.enabled());
    const auto h = env.test_hooks();
    QVERIFY(h.nan_steps.empty());
    QCOMPARE(h.stop_at_step, int64_t(-1));
    QCOMPARE(h.crash_rank, int64_t(-1));
    QCOMPARE(h.crash_at_step, int64_t(-1));
  }

  void paths() {
    const Environment env = env_of({{"QATWB_DB", "/data/q.sqlite"},
                                    {"HOME", "/home/alice"},
                                    {"QATWB_CACHE", "/scratch/cache"}});
    QCOMPARE(env.db_path(), std::string("/data/q.sqlite"));
    QCOMPARE(env.hosts_file(), std::string("/home/alice/.config/qatwb/hosts.yaml"));
    QCOMPARE(env.home(), std::string("/home/alice"));
    QCOMPARE(env.cache_root(), std::string("/scratch/cache"));
    const Environment hosts =
        env_of({{"QATWB_HOSTS", "/etc/q/hosts.yaml"}, {"HOME", "/home/alice"}});
    QCOMPARE(hosts.hosts_file(), std::string("/etc/q/hosts.yaml"));
    // Set but empty counts as unset.
    QCOMPARE(env_of({{"QATWB_DB", ""}}).db_path(), std::string("runs/qatwb.sqlite"));
    QCOMPARE(env_of({{"QATWB_HOSTS", ""}, {"HOME", "/h"}}).hosts_file(),
             std::string("/h/.config/qatwb/hosts.yaml"));
  }

  void threads_per_rank() {
    QCOMPARE(env_of({{"QATWB_THREADS_PER_RANK", "3"}}).threads_per_rank(), 3);
    QCOMPARE(env_of({{"QATWB_THREADS_PER_RANK", ""}}).threads_per_rank(), 0);
  }

  void openmp_note() {
    // The user's own policy: the note is the policy.
    QCOMPARE(env_of({{"OMP_WAIT_POLICY", "passive"}}).openmp_note(), std::string("passive"));
    // qatwb's choice: its reason.
    QCOMPARE(env_of({{"OMP_WAIT_POLICY", "active"},
                     {"QATWB_OMP_POLICY", "active (machine idle at start)"}})
                 .openmp_note(),
             std::string("active (machine idle at start)"));
    // No policy at all: no note, whatever QATWB_OMP_POLICY says.
    QCOMPARE(env_of({{"QATWB_OMP_POLICY", "active"}}).openmp_note(), std::string());
  }

  void data_parallel_rank() {
    const auto d = env_of({{"RANK", "2"},
                           {"WORLD_SIZE", "4"},
                           {"MASTER_ADDR", "10.0.0.7"},
                           {"MASTER_PORT", "1234"}})
                       .dist();
    QCOMPARE(d.rank, 2);
    QCOMPARE(d.world_size, 4);
    QCOMPARE(d.local_rank, 2);  // LOCAL_RANK defaults to RANK
    QCOMPARE(d.master_addr, std::string("10.0.0.7"));
    QCOMPARE(d.master_port, 1234);
    QVERIFY(d.enabled() && !d.is_main());
    QCOMPARE(env_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}}).dist().local_rank,
             0);
  }

  void test_hooks() {
    const auto h = env_of({{"QATWB_TEST_NAN_STEPS", "2,3,,7"},
                           {"QATWB_TEST_STOP_AT_STEP", "5"},
                           {"QATWB_TEST_CRASH_RANK_AT", "1:4"}})
                       .test_hooks();
    QCOMPARE(h.nan_steps, std::vector<int64_t>({2, 3, 7}));
    QCOMPARE(h.stop_at_step, int64_t(5));
    QCOMPARE(h.crash_rank, int64_t(1));
    QCOMPARE(h.crash_at_step, int64_t(4));
  }

  void malformed_values_name_the_variable() {
    // Values are parsed when asked for; a bad one is an error that names the variable.
    const auto threads = [](const Environment& e) { e.threads_per_rank(); };
    const auto dist = [](const Environment& e) { e.dist(); };
    const auto hooks = [](const Environment& e) { e.test_hooks(); };
    const struct {
      Vars vars;
      std::function<void(const Environment&)> read;
      const char* message;
    } cases[] = {
        {{{"QATWB_THREADS_PER_RANK", "0"}},
         threads,
         "QATWB_THREADS_PER_RANK=0: expected a positive integer"},
        {{{"QATWB_THREADS_PER_RANK", "x"}},
         threads,
         "QATWB_THREADS_PER_RANK=x: expected a positive integer"},
        {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, dist, "RANK=2 is not below WORLD_SIZE=2"},
        {{{"WORLD_SIZE", "two"}},
         dist,
         "environment variable WORLD_SIZE='two' is not a non-negative integer"},
        {{{"MASTER_PORT", "-1"}},
         dist,
         "environment variable MASTER_PORT='-1' is not a non-negative integer"},
        {{{"QATWB_TEST_NAN_STEPS", "2,x"}},
         hooks,
         "QATWB_TEST_NAN_STEPS=2,x: expected non-negative integers"},
        {{{"QATWB_TEST_STOP_AT_STEP", "1,2"}}, hooks, "QATWB_TEST_STOP_AT_STEP=1,2: one step"},
        {{{"QATWB_TEST_CRASH_RANK_AT", "3"}}, hooks, "QATWB_TEST_CRASH_RANK_AT=3: RANK:STEP"},
    };
    for (const auto& c : cases) {
      const Environment env = env_of(c.vars);
      QCOMPARE(error_of([&] { c.read(env); }), std::string(c.message));
    }
    // Unrelated accessors still work beside a malformed variable.
    QCOMPARE(env_of({{"RANK", "x"}, {"QATWB_DB", "/d.sqlite"}}).db_path(),
             std::string("/d.sqlite"));
  }

  void read_takes_this_process_environment() {
    qputenv("QATWB_DB", "/tmp/from-env.sqlite");
    qputenv("QATWB_TEST_STOP_AT_STEP", "9");
    qunsetenv("QATWB_HOSTS");
    qputenv("HOME", "/home/tester");
    const Environment env = Environment::read();
    QCOMPARE(env.db_path(), std::string("/tmp/from-env.sqlite"));
    QCOMPARE(env.test_hooks().stop_at_step, int64_t(9));
    QCOMPARE(env.hosts_file(), std::string("/home/tester/.config/qatwb/hosts.yaml"));
    // Read once: later changes are not seen by the copy.
    qputenv("QATWB_DB", "/tmp/other.sqlite");
    QCOMPARE(env.db_path(), std::string("/tmp/from-env.sqlite"));
    qunsetenv("QATWB_DB");
    qunsetenv("QATWB_TEST_STOP_AT_STEP");
  }
};

QTEST_GUILESS_MAIN(TestEnvironment)
#include "tst_environment.moc"
