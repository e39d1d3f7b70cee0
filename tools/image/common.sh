# Sourced by build.sh and podman.sh: where the image tooling keeps its state, and podman bound to it.
# shellcheck shell=bash

cache="${MODELARTS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelarts-operator}"
# A private image store, reused between runs and never the system's (/var/lib/containers is left alone).
podman_home="$cache/podman"

# podman_setup: writes the containers.conf this kind of VM needs and clears run state left by a reboot.
podman_setup() {
  # Run state (locks, mount counts) beside the store, unless that path is too long: podman refuses a runroot of
  # more than 50 characters, which a cache under a long $HOME exceeds. Then a directory in /tmp named after the
  # store (podman also refuses a store whose runroot changed, so the choice must stay the same for a given store).
  podman_run="$podman_home/run"
  if (( ${#podman_run} > 50 )); then
    podman_run="/tmp/modelarts-podman-$(id -u)-$(printf '%s' "$podman_home" | sha256sum | cut -c1-12)"
  fi
  mkdir -p "$podman_home/tmp"
  mkdir -p -m 0700 "$podman_run"
  if [[ -L "$podman_run" || ! -O "$podman_run" ]]; then  # in /tmp, somebody else may have made it first
    echo "podman: $podman_run is not a directory of this user's; remove it" >&2
    return 1
  fi
  # Run state (mount counts, locks) does not survive a reboot; stale copies make podman refuse to work.
  local boot_id
  boot_id="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)"
  if [[ "$(cat "$podman_home/boot_id" 2>/dev/null)" != "$boot_id" ]]; then
    rm -rf "$podman_home/tmp" "${podman_run:?}"
    mkdir -p "$podman_home/tmp"
    mkdir -p -m 0700 "$podman_run"
    echo "$boot_id" > "$podman_home/boot_id"
  fi
  # runc, not crun: crun refuses cgroup v1 + v2 hybrid hosts ("cgroups in hybrid mode not supported").
  # Default rlimits no higher than our own hard limits: without CAP_SYS_RESOURCE the runtime's setrlimit
  # fails with EPERM, and podman caps its own RLIMIT_NPROC at 32768 when it starts.
  local nofile nproc
  nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
  [[ "$nofile" == unlimited ]] && nofile=1048576
  if [[ "$nproc" == unlimited ]] || (( nproc > 32768 )); then nproc=32768; fi
  local conf="$podman_home/containers.conf"
  cat > "$conf.$$" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
events_logger = "file"
CONF
  mv -f "$conf.$$" "$conf"
}

# podman_cmd ARGS...: podman with the private store and the containers.conf above (after podman_setup).
podman_cmd() {
  CONTAINERS_CONF="$podman_home/containers.conf" podman --root "$podman_home/root" --runroot "$podman_run" \
    --tmpdir "$podman_home/tmp" --storage-driver overlay "$@"
}
