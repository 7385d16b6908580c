# syntax=docker/dockerfile:1
#
# The apirun image: one static (musl) binary, the built-in plugins embedded, on
# distroless/static (no shell, no package manager; CA certificates, /etc/passwd
# with the "nonroot" user, tzdata), running as nonroot (uid 65532).
#
#   docker build -t apirun .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" -w /work apirun up
#
# docs/install.md explains the options. The release workflow
# (.github/workflows/release.yml) builds it and pushes it to ghcr.io on a tag.

# ---------------------------------------------------------------------------
# Build: scripts/dist.sh does what a user's machine does (adds the rustup
# targets, builds with --locked for <arch>-unknown-linux-musl, checks with ldd
# that the binary is static and that `apirun --version` runs, writes the archive).
FROM rust:1-bookworm AS build

# musl-gcc compiles the C parts (rusqlite's bundled SQLite, ring) for musl.
# Not pinned (DL3008): the base image's tag floats with Debian stable anyway,
# and a pinned version breaks the build at Debian's next point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The toolchain rust-toolchain.toml names, with its targets (wasm32-wasip2 for
# the built-in plugins): its own layer, so a source change does not reinstall it.
COPY rust-toolchain.toml ./
RUN rustup toolchain install \
    && rustup target add "$(uname -m)-unknown-linux-musl"

COPY . .
# .git is not sent to the builder (.dockerignore): the workflow passes the
# commit so that `apirun --version` names it.
ARG APIRUN_BUILD_COMMIT=unknown
ENV APIRUN_BUILD_COMMIT=${APIRUN_BUILD_COMMIT}
# Cache mounts keep the crates.io downloads and the target dir between builds
# on one builder; the binary is taken out of the archive in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/dist.sh \
    && mkdir -p /out/rootfs/tmp \
    && chmod 1777 /out/rootfs/tmp \
    && tar -xzf dist/apirun-*.tar.gz -C /out --strip-components=1 --wildcards '*/apirun'

# ---------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot

# A world-writable /tmp for the compiled-plugin cache, whatever --user is given
# (with --user the nonroot home directory may not be writable).
COPY --from=build /out/rootfs/ /
COPY --from=build /out/apirun /usr/local/bin/apirun
ENV APIRUN_CACHE_DIR=/tmp/apirun-wasm

# distroless "nonroot", by number so that Kubernetes runAsNonRoot can check it.
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["apirun"]
CMD ["--help"]
