#!/usr/bin/env bash
# Builds the PostgreSQL 18 client tools (libpq, pg_dump, pg_dumpall, psql) from Debian sid's
# source package, because Debian 12 packages no PostgreSQL 18 client and sid's binaries need a
# newer glibc. Idempotent: when the tools are already installed at the prefix, it does nothing.
#
# The system's apt sources are never changed: a private apt configuration (its own sources file,
# lists and cache) fetches only the source package. About 4 minutes on 2 cores.
#
#   usage: build_pg18_client.sh [PREFIX]      (default /opt/backup-toolbox/pg18-client)
set -euo pipefail

PREFIX="${1:-/opt/backup-toolbox/pg18-client}"
CACHE_DIR="${BACKUP_TOOLBOX_CACHE:-/var/cache/backup-toolbox}"
WORK="${CACHE_DIR}/pg18-client-src"
MIRROR="${DEBIAN_SOURCE_MIRROR:-http://deb.debian.org/debian}"
BUILD_DEPS=(bison flex libreadline-dev zlib1g-dev libssl-dev build-essential pkg-config)

log() { printf 'build_pg18_client: %s\n' "$*" >&2; }
die() {
  printf 'build_pg18_client: error: %s\n' "$*" >&2
  exit 1
}

is_built() {
  local tool out
  for tool in pg_dump pg_dumpall psql; do
    [[ -x "${PREFIX}/bin/${tool}" ]] || return 1
    out="$("${PREFIX}/bin/${tool}" --version 2>/dev/null)" || return 1
    [[ "$out" == *"(PostgreSQL) 18."* ]] || return 1
  done
}

if is_built; then
  log "present: $("${PREFIX}/bin/pg_dumpall" --version) at ${PREFIX}/bin"
  exit 0
fi

# One build at a time (say `make test` and `make demo` started together): the second waits, then
# finds the tools built by the first.
mkdir -p "$CACHE_DIR"
exec 9>"${CACHE_DIR}/pg18-client.lock"
flock 9
if is_built; then
  log "present: $("${PREFIX}/bin/pg_dumpall" --version) at ${PREFIX}/bin (built by another run)"
  exit 0
fi

# Build dependencies from Debian 12 (bookworm), installed only when missing.
missing=()
for pkg in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
    missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  log "installing build dependencies: ${missing[*]}"
  # Refresh the index first: on a machine whose lists are empty (a fresh image) or old (setup
  # ran long ago and found its own packages present), install would fail to find them.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
fi

# A private apt configuration that knows only sid's sources.
mkdir -p "${WORK}/apt/lists/partial" "${WORK}/apt/cache/archives/partial" "${WORK}/src"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s sid main\n' \
  "$MIRROR" >"${WORK}/apt/sources.list"
# A mirror that serves a snapshot of the archive (as these machines' does) may hand out a sid
# Release file whose Valid-Until has passed: the signature and every file's hash are still
# checked, only the freshness is not (any postgresql-18 source will do).
apt_private=(
  -o "Dir::Etc::sourcelist=${WORK}/apt/sources.list"
  -o "Dir::Etc::sourceparts=/dev/null"
  -o "Dir::State::Lists=${WORK}/apt/lists"
  -o "Dir::Cache=${WORK}/apt/cache"
  -o "Acquire::Check-Valid-Until=false"
)
log "fetching the postgresql-18 source package from ${MIRROR} (sid)"
apt-get "${apt_private[@]}" -qq update
(cd "${WORK}/src" && apt-get "${apt_private[@]}" -qq source --download-only postgresql-18 \
  >/dev/null) || die "apt-get source --download-only postgresql-18 failed (its error is above)"
orig="$(ls -t "${WORK}"/src/postgresql-18_18.*.orig.tar.* 2>/dev/null | head -n 1)"
[[ -n "$orig" ]] || die "no postgresql-18 .orig tarball in ${WORK}/src"

build="${WORK}/build"
rm -rf "$build"
mkdir -p "$build"
tar -xf "$orig" -C "$build" --strip-components=1
log "building $(basename "$orig") into ${PREFIX} (libpq, pg_dump, pg_dumpall, psql)"
jobs="$(nproc)"
(
  cd "$build"
  ./configure --quiet --without-icu --with-openssl --prefix="$PREFIX" >/dev/null
  make -s -j"$jobs" -C src/backend generated-headers >/dev/null
  for dir in src/interfaces/libpq src/bin/pg_dump src/bin/psql; do
    make -s -j"$jobs" -C "$dir" >/dev/null
    make -s -C "$dir" install >/dev/null
  done
) || die "building PostgreSQL 18 client tools failed; see the output above"
rm -rf "$build"

# World-readable, so the unprivileged postgres user can run them too.
chmod -R a+rX "$PREFIX"
is_built || die "the build finished but ${PREFIX}/bin holds no working PostgreSQL 18 client"
log "built: $("${PREFIX}/bin/pg_dumpall" --version) at ${PREFIX}/bin"
