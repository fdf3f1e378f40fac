// The jobs registry: a `jobs` table in the run database (the store's SQLite file, WAL and
// busy_timeout), one row per job with its state columns and the whole Job as JSON. Every
// CLI invocation and the GUI open it independently; each write is one short IMMEDIATE
// transaction, so concurrent invocations never lose or corrupt a job.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/jobs/job.h"

namespace qatwb::store {
class Store;
}

namespace qatwb::jobs {

std::string job_to_json(const Job& job, int indent = -1);
// Throws qatwb::Error naming `what` on a malformed document.
Job job_from_json(const std::string& text, const std::string& what);

class JobRegistry {
 public:
  // Opens (creating if missing) the database at `db_path` and the jobs table.
  explicit JobRegistry(const std::string& db_path);
  ~JobRegistry();
  JobRegistry(JobRegistry&&) noexcept;
  JobRegistry& operator=(JobRegistry&&) noexcept;

  // Inserts a new job, assigning job.id and the created/updated times.
  void add(Job& job);
  // Writes the job back (sets job.updated). Throws if the id does not exist.
  void update(Job& job);
  std::optional<Job> find(int64_t id) const;
  // Throws qatwb::Error "no job <id>" when missing.
  Job get(int64_t id) const;
  std::vector<Job> list() const;  // oldest first

  store::Store& store();
  const std::string& path() const;

 private:
  std::unique_ptr<store::Store> store_;
};

}  // namespace qatwb::jobs
