#include "core/jobs/hosts_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/util/error.h"

namespace qatwb::jobs {
namespace fs = std::filesystem;

std::string SshHost::destination() const { return user.empty() ? host : user + "@" + host; }

const SshHost& HostsConfig::get(const std::string& name) const {
  auto it = hosts.find(name);
  if (it != hosts.end()) return it->second;
  std::string known;
  for (const auto& [n, h] : hosts) known += (known.empty() ? "" : ", ") + n;
  throw Error(file + ": no host '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
}

std::string default_hosts_path(const std::string& qatwb_hosts, const std::string& home) {
  if (!qatwb_hosts.empty()) return qatwb_hosts;
  return (home.empty() ? std::string(".") : home) + "/.config/qatwb/hosts.yaml";
}

namespace {

struct Reader {
  std::string file;
  fs::path base;
  std::string home;

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    int line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
    throw Error(at_location(file, line, message));
  }
  std::string str(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar()) fail(node, field + ": expected a string");
    return node.Scalar();
  }
  int integer(const YAML::Node& node, const std::string& field, int lo, int hi) const {
    if (!node.IsScalar()) fail(node, field + ": expected an integer");
    const std::string& s = node.Scalar();
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < lo || v > hi) {
      fail(node, field + ": expected an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got '" + s + "'");
    }
    return static_cast<int>(v);
  }
  std::string path(const YAML::Node& node, const std::string& field) const {
    std::string p = str(node, field);
    if (p.rfind("~/", 0) == 0) return home + p.substr(1);
    if (!p.empty() && fs::path(p).is_relative()) return (base / p).lexically_normal().string();
    return p;
  }
};

}  // namespace

HostsConfig load_hosts_config(const std::string& path, const std::string& home) {
  HostsConfig config;
  config.file = path;
  if (!fs::exists(path)) throw Error(path + ": hosts file not found");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    throw Error(at_location(path, e.mark.line + 1, "YAML syntax error: " + e.msg));
  } catch (const YAML::Exception& e) {
    throw Error(path + ": " + e.what());
  }
  Reader r{path, fs::absolute(path).parent_path(), home};
  if (root.IsNull()) throw Error(path + ": empty hosts file");
  if (!root.IsMap()) r.fail(root, "expected a mapping with 'hosts:'");
  std::string default_known_hosts;
  static const std::set<std::string> top_keys = {"hosts", "known_hosts"};
  static const std::set<std::string> host_keys = {
      "host",       "port",     "user",  "identity_file",   "known_hosts",
      "remote_dir", "work_dir", "qatwb", "connect_timeout", "strict_host_key_checking"};
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>("");
    if (!top_keys.count(key)) r.fail(kv.first, "unknown field '" + key + "'");
  }
  if (root["known_hosts"]) default_known_hosts = r.path(root["known_hosts"], "known_hosts");
  YAML::Node hosts = root["hosts"];
  if (!hosts) r.fail(root, "hosts: missing");
  if (!hosts.IsMap()) r.fail(hosts, "hosts: expected a mapping of host names");
  for (const auto& kv : hosts) {
    SshHost h;
    h.name = kv.first.as<std::string>("");
    const std::string f = "hosts." + h.name;
    const YAML::Node& n = kv.second;
    if (h.name.empty()) r.fail(kv.first, "hosts: empty host name");
    if (!n.IsMap()) r.fail(n.IsNull() ? kv.first : n, f + ": expected a mapping");
    for (const auto& field : n) {
      std::string key = field.first.as<std::string>("");
      if (!host_keys.count(key)) r.fail(field.first, f + ": unknown field '" + key + "'");
    }
    if (!n["host"]) r.fail(kv.first, f + ".host: missing");
    h.host = r.str(n["host"], f + ".host");
    if (h.host.empty() || h.host[0] == '-') r.fail(n["host"], f + ".host: invalid host name");
    if (n["port"]) h.port = r.integer(n["port"], f + ".port", 1, 65535);
    if (n["user"]) h.user = r.str(n["user"], f + ".user");
    if (!h.user.empty() && h.user[0] == '-') r.fail(n["user"], f + ".user: invalid user name");
    if (n["identity_file"]) h.identity_file = r.path(n["identity_file"], f + ".identity_file");
    h.known_hosts = default_known_hosts;
    if (n["known_hosts"]) h.known_hosts = r.path(n["known_hosts"], f + ".known_hosts");
    // remote_dir is the documented name; work_dir (what older hosts files say) is an alias.
    if (n["remote_dir"] && n["work_dir"])
      r.fail(n["work_dir"], f + ".work_dir: give remote_dir or its old name work_dir, not both");
    const char* dir_key = n["work_dir"] ? "work_dir" : "remote_dir";
    if (!n[dir_key]) r.fail(kv.first, f + ".remote_dir: missing");
    h.remote_dir = r.str(n[dir_key], f + "." + dir_key);
    if (h.remote_dir.empty()) r.fail(n[dir_key], f + "." + dir_key + ": empty");
    if (n["qatwb"]) h.qatwb = r.str(n["qatwb"], f + ".qatwb");
    if (n["connect_timeout"]) {
      h.connect_timeout = r.integer(n["connect_timeout"], f + ".connect_timeout", 1, 600);
    }
    if (n["strict_host_key_checking"]) {
      h.strict_host_key_checking =
          r.str(n["strict_host_key_checking"], f + ".strict_host_key_checking");
      if (h.strict_host_key_checking != "yes" && h.strict_host_key_checking != "accept-new") {
        r.fail(n["strict_host_key_checking"],
               f + ".strict_host_key_checking: expected yes or accept-new");
      }
    }
    config.hosts[h.name] = h;
  }
  return config;
}

}  // namespace qatwb::jobs
