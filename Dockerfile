# backup-toolbox: the `backup` and `restore-drill` programs plus the tools they call
# (pg_dumpall/psql 18, zstd, age for encryption at rest) and the tools the runbook uses (mc,
# sha256sum, age-keygen, bash).
#
# Build:  docker build -t backup-toolbox --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# Smoke:  docker run --rm backup-toolbox toolbox-smoke
#
# Every base image is pinned by digest. Where each digest came from (public code that pins it):
# - denoland/deno:2.9.6 -> multi-arch index sha256:2014dc16..., the same Deno as our dev
#   toolchain; pinned so in several public Dockerfiles (e.g. `FROM denoland/deno:2.9.6@sha256:2014dc16...`)
#   and noted as "docker pull denoland/deno:2.9.6 + docker image inspect" in a Go SDK README.
# - debian:bookworm-slim -> sha256:88200866..., published as debian:bookworm-20260824-slim
#   (pinned under that dated tag and as bookworm-slim / 12-slim in several public repos).
# - minio/mc:RELEASE.2025-08-13T08-35-41Z -> sha256:a7fe349e..., pinned by many public repos
#   (also the digest of minio/mc:latest when MinIO stopped publishing images; dl.min.io binary
#   downloads now answer 410, so we copy the binary out of the image).
# Update them together with `docker buildx imagetools inspect <image>:<tag>` (RUNBOOK.md).

FROM denoland/deno:2.9.6@sha256:2014dc167ece617ef7e7ba40631ac2234c59e75ce693e7cc2dc2602b3c87859d AS build
WORKDIR /src
# Dependencies first, so a source change does not refetch npm packages.
COPY deno.json deno.lock ./
COPY backup.ts restore_drill.ts ./
COPY lib/ ./lib/
RUN deno install --frozen --entrypoint backup.ts restore_drill.ts
# Same permission flags as `deno task backup` / `deno task drill` (see deno.json).
RUN deno task compile && ./dist/backup --version && ./dist/restore-drill --version

FROM minio/mc:RELEASE.2025-08-13T08-35-41Z@sha256:a7fe349ef4bd8521fb8497f55c6042871b2ae640607cf99d9bede5e9bdf11727 AS mc

FROM debian:bookworm-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171 AS runtime

ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/josevictor/backup-toolbox

LABEL org.opencontainers.image.title="backup-toolbox" \
      org.opencontainers.image.description="Daily pg_dumpall -> zstd -> S3 backups and weekly restore drills for PostgreSQL 18" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# PostgreSQL 18 client from the PGDG apt repository: pg_dumpall must be at least the server's
# major version. Debian's postgresql-common ships the PGDG signing key and the script that
# adds the repository with it, so no key is downloaded here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends \
      postgresql-client-18 zstd age bash coreutils ca-certificates tzdata \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

COPY --from=mc /usr/bin/mc /usr/local/bin/mc
COPY --from=build /src/dist/backup /usr/local/bin/backup
COPY --from=build /src/dist/restore-drill /usr/local/bin/restore-drill
COPY docker/toolbox-smoke.sh /usr/local/bin/toolbox-smoke

RUN chmod 0755 /usr/local/bin/toolbox-smoke /usr/local/bin/mc \
 && groupadd --gid 10001 toolbox \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin toolbox

# The 18 binaries first, so a later client package cannot change which pg_dumpall runs.
# HOME and MC_CONFIG_DIR point at /tmp: the Kubernetes pods mount a read-only root filesystem
# with an emptyDir on /tmp.
ENV PATH=/usr/lib/postgresql/18/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    MC_CONFIG_DIR=/tmp/.mc \
    DENO_NO_UPDATE_CHECK=1

USER 10001:10001
WORKDIR /tmp
CMD ["backup", "--help"]
