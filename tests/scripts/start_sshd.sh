#!/usr/bin/env bash
# Starts a throw-away sshd for the jobs tests: keys, config and known_hosts in DIR, listening on
# 127.0.0.1:PORT, key-only, as the current user. Prints the sshd pid once it accepts logins.
# Usage: tests/scripts/start_sshd.sh DIR PORT      (stop: kill <pid>)
set -euo pipefail
dir=$1
port=$2
mkdir -p "$dir"
cd "$dir"
[ -f host_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -f host_ed25519 -C qatwb-test-host
[ -f id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -f id_ed25519 -C qatwb-test-user
cp id_ed25519.pub authorized_keys
chmod 600 host_ed25519 id_ed25519 authorized_keys
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 host_ed25519.pub)" > known_hosts
cat > sshd_config <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
LogLevel ERROR
MaxStartups 100:30:200
MaxSessions 100
CONF
# Privilege separation directory (Debian's sshd refuses to start without it).
[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
"$sshd_bin" -D -e -f "$dir/sshd_config" > "$dir/sshd.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 100); do
  if ssh -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=yes \
       -o UserKnownHostsFile="$dir/known_hosts" -o IdentitiesOnly=yes -i "$dir/id_ed25519" \
       -p "$port" "$(id -un)@127.0.0.1" true < /dev/null > /dev/null 2>&1; then
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2> /dev/null; then
    echo "start_sshd: sshd exited:" >&2
    cat "$dir/sshd.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "start_sshd: sshd did not accept a login within 10 s" >&2
cat "$dir/sshd.log" >&2
kill "$pid" 2> /dev/null || true
exit 1
