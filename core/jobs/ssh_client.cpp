#include "core/jobs/ssh_client.h"

#include <unistd.h>

#include <filesystem>

#include "core/jobs/shell_quote.h"
#include "core/util/error.h"

namespace qatwb::jobs {
namespace fs = std::filesystem;

std::string SshClient::describe() const {
  return "ssh host '" + host_.name + "' (" + host_.destination() + ":" +
         std::to_string(host_.port) + ")";
}

std::vector<std::string> SshClient::ssh_argv(const std::string& script) const {
  std::vector<std::string> argv = {"ssh",
                                   "-o",
                                   "BatchMode=yes",
                                   "-o",
                                   "PasswordAuthentication=no",
                                   "-o",
                                   "KbdInteractiveAuthentication=no",
                                   "-o",
                                   "PreferredAuthentications=publickey",
                                   "-o",
                                   "ConnectTimeout=" + std::to_string(host_.connect_timeout),
                                   "-o",
                                   "ServerAliveInterval=15",
                                   "-o",
                                   "ServerAliveCountMax=2",
                                   "-o",
                                   "LogLevel=ERROR",
                                   "-o",
                                   "StrictHostKeyChecking=" + host_.strict_host_key_checking,
                                   "-p",
                                   std::to_string(host_.port)};
  if (!host_.known_hosts.empty()) {
    argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + host_.known_hosts, "-o",
                             "GlobalKnownHostsFile=/dev/null"});
  }
  if (!host_.identity_file.empty()) {
    argv.insert(argv.end(), {"-o", "IdentitiesOnly=yes", "-i", host_.identity_file});
  }
  argv.push_back("--");
  argv.push_back(host_.destination());
  // The remote side hands this string to the login shell; it is one sh script.
  argv.push_back(script);
  return argv;
}

CommandResult SshClient::run(const std::string& script, CommandOptions opts) const {
  if (opts.timeout_s <= 0) opts.timeout_s = 60;
  // Never let ssh wait much longer than its connect timeout plus the script.
  CommandResult r = run_command(ssh_argv(script), opts);
  if (r.timed_out) {
    throw Error(describe() + ": timed out after " + std::to_string(int(opts.timeout_s)) + " s");
  }
  if (r.exit_code == 255 || r.term_signal != 0) {
    std::string msg = r.err;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    if (msg.empty()) msg = "ssh failed (exit " + std::to_string(r.exit_code) + ")";
    throw Error(describe() + ": " + msg);
  }
  return r;
}

std::string SshClient::check(const std::string& script, const std::string& what,
                             CommandOptions opts) const {
  CommandResult r = run(script, std::move(opts));
  if (r.exit_code != 0) {
    std::string msg = r.err;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw Error(describe() + ": " + what + " failed (exit " + std::to_string(r.exit_code) + ")" +
                (msg.empty() ? "" : ": " + msg));
  }
  return r.out;
}

namespace {
struct TempFile {
  std::string path;
  TempFile() {
    std::string tmpl = (fs::temp_directory_path() / "qatwb-ssh-XXXXXX").string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0) throw Error("cannot create a temporary file in " + tmpl);
    close(fd);
    path = tmpl;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};
}  // namespace

void SshClient::push(const std::vector<std::string>& local_paths,
                     const std::string& remote_dir) const {
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& p : local_paths) {
    if (!fs::exists(p)) throw Error(p + ": not found (bundle for " + describe() + ")");
    fs::path abs = fs::absolute(p).lexically_normal();
    if (abs.filename().empty()) abs = abs.parent_path();
    members.emplace_back(abs.parent_path().string(), abs.filename().string());
  }
  push_members(members, remote_dir);
}

void SshClient::push_tree(const std::string& local_root,
                          const std::vector<std::string>& relative_paths,
                          const std::string& remote_dir) const {
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& rel : relative_paths) {
    if (!fs::exists(fs::path(local_root) / rel))
      throw Error(local_root + "/" + rel + ": not found (bundle for " + describe() + ")");
    members.emplace_back(local_root, rel);
  }
  push_members(members, remote_dir);
}

void SshClient::push_members(const std::vector<std::pair<std::string, std::string>>& members,
                             const std::string& remote_dir) const {
  TempFile tar;
  for (const auto& [dir, member] : members) {
    // One tar per file would be simpler; -C per member keeps one stream and the relative names.
    std::vector<std::string> argv = {
        "tar",    fs::exists(tar.path) && fs::file_size(tar.path) > 0 ? "-rf" : "-cf",
        tar.path, "-C",
        dir,      "--",
        member};
    CommandResult r = run_command(argv, {});
    if (!r.ok()) throw Error("tar of " + dir + "/" + member + " failed: " + r.err);
  }
  std::string script =
      "mkdir -p -- " + shell_quote(remote_dir) + " && tar -xf - -C " + shell_quote(remote_dir);
  CommandOptions opts;
  opts.stdin_file = tar.path;
  opts.timeout_s = 3600;
  check(script, "copying the bundle to " + remote_dir, opts);
}

void SshClient::fetch(const std::string& remote_dir, const std::string& relative,
                      const std::string& local_dir) const {
  fs::path rel = fs::path(relative).lexically_normal();
  if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") {
    throw Error("fetch: '" + relative + "' is not a path inside the run directory");
  }
  TempFile tar;
  CommandOptions opts;
  opts.stdout_file = tar.path;
  opts.timeout_s = 3600;
  check("cd " + shell_quote(remote_dir) + " && tar -cf - -- " + shell_quote(rel.string()),
        "fetching " + relative, opts);
  fs::create_directories(local_dir);
  CommandResult r = run_command({"tar", "-xf", tar.path, "-C", local_dir}, {});
  if (!r.ok()) throw Error("extracting " + relative + " into " + local_dir + " failed: " + r.err);
}

}  // namespace qatwb::jobs
