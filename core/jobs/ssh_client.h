// The system ssh client for one configured host: key-only (BatchMode=yes, IdentitiesOnly),
// host keys checked against the configured known_hosts file, ConnectTimeout so an unreachable
// host fails fast. Remote commands are POSIX sh scripts whose every variable part was quoted
// with shell_quote; files travel as tar streams over the same ssh connection.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/jobs/hosts_config.h"
#include "core/jobs/subprocess.h"

namespace qatwb::jobs {

class SshClient {
 public:
  explicit SshClient(SshHost host) : host_(std::move(host)) {}
  const SshHost& host() const { return host_; }

  // The ssh argv that runs `script` on the host.
  std::vector<std::string> ssh_argv(const std::string& script) const;
  // Runs `script`; throws qatwb::Error "ssh host 'name' (user@addr:port): <ssh's message>"
  // when ssh itself fails (exit 255: refused, unknown host, bad key) or times out. The
  // script's own exit status is returned in the result.
  CommandResult run(const std::string& script, CommandOptions opts = {}) const;
  // Like run() but a non-zero exit of the script also throws, naming `what`.
  std::string check(const std::string& script, const std::string& what,
                    CommandOptions opts = {}) const;
  // Copies local files/folders into remote_dir (created), keeping their base names.
  void push(const std::vector<std::string>& local_paths, const std::string& remote_dir) const;
  // Copies files given relative to local_root into remote_dir, keeping those relative paths
  // (a project and the bases its `extends:` names, e.g. sub/p.yaml and base.yaml).
  void push_tree(const std::string& local_root, const std::vector<std::string>& relative_paths,
                 const std::string& remote_dir) const;
  // Copies remote_dir/relative (file or folder) into local_dir/relative.
  void fetch(const std::string& remote_dir, const std::string& relative,
             const std::string& local_dir) const;

 private:
  std::string describe() const;
  // One tar stream of (folder, member relative to it) pairs, unpacked in remote_dir.
  void push_members(const std::vector<std::pair<std::string, std::string>>& members,
                    const std::string& remote_dir) const;
  SshHost host_;
};

}  // namespace qatwb::jobs
