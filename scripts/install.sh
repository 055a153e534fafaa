#!/usr/bin/env bash
# Installs, upgrades or removes edge-agent on a systemd Linux gateway (64-bit, glibc >= 2.34).
#
#   sudo ./install.sh                      install or upgrade: binary, unit, user, dirs; start the service
#   sudo ./install.sh --config my.json     use this config if /etc/edge-agent/agent.config.json is absent
#   sudo ./install.sh --allow-reboot       also let the service user reboot (polkit), for system.reboot
#   sudo ./install.sh --uninstall          remove all but the config and the data (outbox)
#   sudo ./install.sh --uninstall --purge  remove everything, the user and the unsent readings too
#
# --root DIR installs into DIR as if it were / (an SD card image being prepared, or a test) and
# never calls systemctl; systemctl is also skipped when the machine is not running systemd.
# An existing config is never overwritten; an upgrade keeps config and data and restarts the service.
set -euo pipefail

NAME=edge-agent
ROOT=""
BINARY=""
UNIT=""
CONFIG=""
MODE=install
PURGE=0
ALLOW_REBOOT=0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo
  echo "options: --binary FILE  --unit FILE  --config FILE  --root DIR  --allow-reboot  --uninstall  --purge"
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --binary) BINARY="${2:?--binary needs a file}"; shift 2 ;;
    --unit) UNIT="${2:?--unit needs a file}"; shift 2 ;;
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    --allow-reboot) ALLOW_REBOOT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  ROOT="$(cd "$ROOT" && pwd)"
fi
[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*): it creates a system user and writes to /usr/local, /etc and /var"

BIN_DEST="$ROOT/usr/local/bin/$NAME"
UNIT_DEST="$ROOT/etc/systemd/system/$NAME.service"
SYSUSERS_DEST="$ROOT/etc/sysusers.d/$NAME.conf"
CONFIG_DIR="$ROOT/etc/$NAME"
CONFIG_DEST="$CONFIG_DIR/agent.config.json"
STATE_DIR="$ROOT/var/lib/$NAME"
CACHE_DIR="$ROOT/var/cache/$NAME"
# system.reboot runs `systemctl reboot` as the unprivileged service user: logind asks polkit. The
# JavaScript rule is for polkit >= 0.106 (Debian 12, Raspberry Pi OS bookworm), the .pkla for older.
POLKIT_RULE="$ROOT/etc/polkit-1/rules.d/50-$NAME-reboot.rules"
POLKIT_PKLA="$ROOT/etc/polkit-1/localauthority/50-local.d/50-$NAME-reboot.pkla"

# systemctl only on the live system, and only when systemd is what booted it.
use_systemctl() {
  [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# The binary's name says which CPU it is for; 32-bit ARM has no Node 24 runtime.
machine_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    armv7l | armv6l | armhf) die "32-bit ARM ($(uname -m)) is not supported: Node 24 has no official armv7 build. Use a 64-bit OS (Raspberry Pi OS 64-bit runs on Pi 3 and later)." ;;
    *) die "unsupported CPU $(uname -m); edge-agent is built for x86_64 and aarch64" ;;
  esac
}

find_file() { # first existing of the arguments
  for candidate in "$@"; do
    if [ -f "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Numeric ids from the target's own passwd/group (under --root they differ from this machine's).
id_of() { # file name
  awk -F: -v name="$2" '$1 == name { print $3 }' "$1"
}

create_user() {
  mkdir -p "$(dirname "$SYSUSERS_DEST")"
  cat >"$SYSUSERS_DEST" <<EOF
# edge-agent's service user; dialout grants access to serial ports.
u $NAME - "edge-agent sensor gateway" /var/lib/$NAME /usr/sbin/nologin
m $NAME dialout
EOF
  command -v systemd-sysusers >/dev/null 2>&1 || die "systemd-sysusers not found: edge-agent needs a systemd system"
  if [ -n "$ROOT" ]; then
    systemd-sysusers --root="$ROOT" "$SYSUSERS_DEST" >/dev/null
  else
    systemd-sysusers "$SYSUSERS_DEST" >/dev/null
  fi
}

write_starter_config() {
  cat >"$1" <<EOF
{
  "version": 1,
  // Starter config written by install.sh: a simulated sensor sent to an MQTT broker on this machine.
  // Edit the cloud section and the sensors, check with: edge-agent check-config
  // then apply with: sudo systemctl restart edge-agent
  // agent.id defaults to the hostname.
  "agent": { "dataDir": "/var/lib/$NAME", "logLevel": "info" },
  "cloud": { "provider": "mqtt", "url": "mqtt://127.0.0.1:1883" },
  "sensors": [{ "id": "demo", "type": "simulated", "interval": "10s" }]
}
EOF
}

install_agent() {
  local arch upgrade=0
  arch="$(machine_arch)"
  BINARY="${BINARY:-$(find_file "$HERE/$NAME-linux-$arch" "$HERE/../dist/$NAME-linux-$arch")}" ||
    die "no binary for linux-$arch beside this script or in dist/ (build it: npm run build:binary; or pass --binary FILE)"
  UNIT="${UNIT:-$(find_file "$HERE/$NAME.service" "$HERE/../systemd/$NAME.service")}" || die "$NAME.service not found beside this script or in systemd/ (pass --unit FILE)"
  [ -f "$BINARY" ] || die "binary $BINARY not found"
  [ -f "$UNIT" ] || die "unit $UNIT not found"
  [ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "config $CONFIG not found"

  # Refuse a binary that cannot run here (wrong CPU, too old glibc) before touching anything.
  local new_version
  new_version="$("$BINARY" version 2>&1)" || die "$BINARY does not run on this machine: $new_version"
  [ -e "$BIN_DEST" ] && upgrade=1

  create_user
  local uid gid
  uid="$(id_of "$ROOT/etc/passwd" "$NAME")"
  gid="$(id_of "$ROOT/etc/group" "$NAME")"
  [ -n "$uid" ] && [ -n "$gid" ] || die "user $NAME was not created"

  # Same file system, then rename: a running agent keeps its old inode, nobody sees half a binary.
  install -d -m 0755 "$(dirname "$BIN_DEST")" "$(dirname "$UNIT_DEST")"
  install -m 0755 "$BINARY" "$BIN_DEST.new"
  mv -f "$BIN_DEST.new" "$BIN_DEST"
  install -m 0644 "$UNIT" "$UNIT_DEST.new"
  mv -f "$UNIT_DEST.new" "$UNIT_DEST"

  # The agent writes its config when the cloud changes it (keeping a backup beside it): the
  # directory is the agent's group's, the file may hold credentials, so not world-readable.
  install -d -m 0770 -o 0 -g "$gid" "$CONFIG_DIR"
  install -d -m 0750 -o "$uid" -g "$gid" "$STATE_DIR"
  install -d -m 0700 -o "$uid" -g "$gid" "$CACHE_DIR"
  if [ -e "$CONFIG_DEST" ]; then
    echo "keeping the existing config $CONFIG_DEST"
  else
    if [ -n "$CONFIG" ]; then
      install -m 0660 -o 0 -g "$gid" "$CONFIG" "$CONFIG_DEST"
    else
      write_starter_config "$CONFIG_DEST"
      chown "0:$gid" "$CONFIG_DEST"
      chmod 0660 "$CONFIG_DEST"
    fi
    echo "wrote $CONFIG_DEST"
  fi

  if [ "$ALLOW_REBOOT" -eq 1 ]; then
    write_reboot_permission
    echo "the $NAME user may now reboot the gateway (commands.allowReboot must also be true): $POLKIT_RULE"
  elif [ -e "$POLKIT_RULE" ]; then
    echo "keeping the reboot permission $POLKIT_RULE (--uninstall removes it)"
  fi

  if [ "$upgrade" -eq 1 ]; then echo "upgraded $BIN_DEST to: $new_version"; else echo "installed $BIN_DEST: $new_version"; fi

  local config_ok=1
  if ! "$BIN_DEST" check-config --config "$CONFIG_DEST" >/dev/null 2>&1; then
    config_ok=0
    echo "WARNING: $CONFIG_DEST is not valid; see: $NAME check-config --config /etc/$NAME/agent.config.json" >&2
  fi

  if use_systemctl; then
    systemctl daemon-reload
    systemctl enable "$NAME.service" >/dev/null
    if [ "$config_ok" -eq 1 ]; then
      systemctl restart "$NAME.service"
      echo "service $NAME (re)started: systemctl status $NAME; journalctl -u $NAME -f; $NAME doctor"
    else
      echo "service $NAME enabled but not started: fix the config, then: sudo systemctl restart $NAME" >&2
    fi
  else
    echo "systemctl skipped (--root given or systemd not running); enable with: systemctl enable --now $NAME"
  fi
}

write_reboot_permission() {
  install -d -m 0755 "$(dirname "$POLKIT_RULE")" "$(dirname "$POLKIT_PKLA")"
  cat >"$POLKIT_RULE.new" <<EOF
// Written by edge-agent's install.sh --allow-reboot: the service user may reboot the gateway
// (the cloud command system.reboot, when commands.allowReboot is true in its config).
polkit.addRule(function (action, subject) {
  if (subject.user === "$NAME" && (action.id === "org.freedesktop.login1.reboot" || action.id === "org.freedesktop.login1.reboot-multiple-sessions")) {
    return polkit.Result.YES;
  }
});
EOF
  cat >"$POLKIT_PKLA.new" <<EOF
# Written by edge-agent's install.sh --allow-reboot (polkit before 0.106 reads these files).
[edge-agent may reboot]
Identity=unix-user:$NAME
Action=org.freedesktop.login1.reboot;org.freedesktop.login1.reboot-multiple-sessions
ResultAny=yes
ResultInactive=yes
ResultActive=yes
EOF
  chmod 0644 "$POLKIT_RULE.new" "$POLKIT_PKLA.new"
  mv -f "$POLKIT_RULE.new" "$POLKIT_RULE"
  mv -f "$POLKIT_PKLA.new" "$POLKIT_PKLA"
}

uninstall_agent() {
  if use_systemctl; then
    systemctl disable --now "$NAME.service" >/dev/null 2>&1 || true
  fi
  rm -f "$BIN_DEST" "$UNIT_DEST" "$SYSUSERS_DEST" "$POLKIT_RULE" "$POLKIT_PKLA"
  rm -rf "$CACHE_DIR"
  use_systemctl && systemctl daemon-reload
  if [ "$PURGE" -eq 1 ]; then
    rm -rf "$CONFIG_DIR" "$STATE_DIR"
    if [ -n "$(id_of "$ROOT/etc/passwd" "$NAME" 2>/dev/null)" ]; then
      if [ -n "$ROOT" ]; then userdel --prefix "$ROOT" "$NAME"; else userdel "$NAME"; fi
    fi
    echo "removed $NAME, its config, its data (unsent readings) and its user"
  else
    echo "removed $NAME; kept the config in /etc/$NAME and the data in /var/lib/$NAME (--purge removes them)"
  fi
}

case "$MODE" in
  install) install_agent ;;
  uninstall) uninstall_agent ;;
esac
