// SSH hosts for the ssh launcher, from a YAML file (default ~/.config/qatwb/hosts.yaml):
//
//   known_hosts: known_hosts        # default for every host; relative to this file
//   hosts:
//     gpu1:
//       host: 10.0.0.5              # required
//       port: 22
//       user: alice                 # default: the ssh default
//       identity_file: ~/.ssh/id_ed25519   # key-only (BatchMode=yes, no passwords)
//       known_hosts: known_hosts    # StrictHostKeyChecking=yes against this file
//       remote_dir: /scratch/alice/qatwb   # required: jobs live in <remote_dir>/<project>/<run>
//                                          # (work_dir: the same, its older name)
//       qatwb: /opt/qatwb/bin/qatwb        # default: qatwb (from the remote PATH)
//       connect_timeout: 10         # seconds
//       strict_host_key_checking: yes      # yes | accept-new
//
// Every mistake is reported as file:line: field: message.
#pragma once
#include <map>
#include <string>

namespace qatwb::jobs {

struct SshHost {
  std::string name;
  std::string host;
  int port = 22;
  std::string user;
  std::string identity_file;
  std::string known_hosts;
  std::string remote_dir;  // hosts.yaml `remote_dir` (alias `work_dir`)
  std::string qatwb = "qatwb";
  int connect_timeout = 10;
  std::string strict_host_key_checking = "yes";
  // user@host or host (for messages and the ssh destination).
  std::string destination() const;
};

struct HostsConfig {
  std::string file;
  std::map<std::string, SshHost> hosts;
  // Throws qatwb::Error "<file>: no host 'x' (known: a, b)".
  const SshHost& get(const std::string& name) const;
};

// Throws qatwb::Error (file:line: message) for a missing file, bad YAML or a bad field. `home`
// ($HOME, read by the program's edge) is what a leading ~/ in the file's paths stands for.
HostsConfig load_hosts_config(const std::string& path, const std::string& home);
// `qatwb_hosts` ($QATWB_HOSTS) when not empty, else <home>/.config/qatwb/hosts.yaml (home ""
// : ./.config/qatwb/hosts.yaml).
std::string default_hosts_path(const std::string& qatwb_hosts, const std::string& home);

}  // namespace qatwb::jobs
