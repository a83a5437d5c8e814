# Two images from one Dockerfile (`make docker-build` builds both):
#
#   --target manager   `ytx manager`: bin/ytx alone on an empty image, with
#                      the CA bundle and a passwd entry for its user
#   --target worker    `ytx worker` and `ytx doctor`: bin/ytx with ffmpeg,
#                      yt-dlp and deno, yt-dlp's JavaScript runtime
#
# Both carry the same bin/ytx, built by the same `make build` the tests use
# (static and CGO-free, so it runs on an empty image). test/image checks
# this file: its targets, pins, users and what each image carries.
#
# Every base is an exact version, and no digest: none could be checked from
# where this file was written. Why each tag exists: docker-library's
# official-images library files (commit 37079fb, 2026-08-21) list
# debian:bookworm-20260803-slim (Debian 12.15), and a -bookworm tag for every Go release from 1.26.0 to 1.26.7; 1.26.8 is
# the Go the tests run with, published since in the same variants.

# The build runs on the builder's platform and cross-compiles for the
# target's (GOOS/GOARCH), so a multi-platform build compiles natively.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH make build
# The manager's image has no system of its own: it gets the CA bundle
# (Kafka, S3 and the API server may be reached with public CAs) and a user
# whose name and home programs may look up.
RUN echo 'ytx:x:65532:65532:ytx:/nonexistent:/usr/sbin/nologin' >/etc/passwd.ytx \
 && echo 'ytx:x:65532:' >/etc/group.ytx

# deno, installed by the same script as `make deno`: the target's binary,
# fetched on the builder's platform (no emulation) and checked against the
# sha512 the script pins.
FROM --platform=$BUILDPLATFORM debian:bookworm-20260803-slim AS deno
ARG TARGETARCH
ARG DENO_VERSION=2.9.6
COPY hack/install-deno.sh /usr/local/bin/install-deno.sh
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates \
 && DENO_ARCH=$TARGETARCH install-deno.sh /opt/deno

# The controller reads and writes Kubernetes objects, Kafka and storage; it
# runs no other program, so its image holds nothing but ytx.
FROM scratch AS manager
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /etc/passwd.ytx /etc/passwd
COPY --from=build /etc/group.ytx /etc/group
COPY --from=build /src/bin/ytx /usr/local/bin/ytx
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ytx"]

# The worker runs ffmpeg (mp3 transcoding, tagging, muxing) and yt-dlp (one
# of its resolvers, with deno for YouTube's player challenges); `ytx doctor`
# runs the same resolvers. Debian's ffmpeg 5.1 is the one the tests use;
# yt-dlp comes from trixie-backports (bookworm's own is too old to read
# today's YouTube) by the same script and version as `make tools`.
FROM debian:bookworm-20260803-slim AS worker
ARG YTDLP_VERSION=2026.11.23-1~bpo13+1
COPY hack/install-yt-dlp.sh /tmp/install-yt-dlp.sh
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && /tmp/install-yt-dlp.sh \
 && rm -rf /var/lib/apt/lists/* /tmp/install-yt-dlp.sh
COPY --from=deno /opt/deno/deno /usr/local/bin/deno
COPY --from=build /src/bin/ytx /usr/local/bin/ytx
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ytx"]
