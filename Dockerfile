# One image for `ytx manager` and `ytx worker`. It builds bin/ytx with the
# same `make build` that the tests use: a static, CGO-free binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

# deno, the JavaScript runtime yt-dlp runs YouTube's player challenges
# with (bookworm's nodejs 18 is too old for it): npm's deno package ships
# the binary for each platform.
FROM node:20-bookworm-slim AS deno
ARG TARGETARCH
ARG DENO_VERSION=2.9.6
RUN npm install --no-audit --no-fund --prefix /opt/deno "deno@${DENO_VERSION}" \
 && arch=$(case "${TARGETARCH:-amd64}" in amd64) echo x64;; arm64) echo arm64;; *) echo "unsupported architecture ${TARGETARCH}" >&2; exit 1;; esac) \
 && cp "/opt/deno/node_modules/@deno/linux-${arch}-glibc/deno" /usr/local/bin/deno \
 && /usr/local/bin/deno --version

# The worker runs ffmpeg (mp3 transcoding, tagging, muxing) and yt-dlp
# (one of its resolvers), so the runtime is Debian's slim image with
# Debian's ffmpeg and the yt-dlp the tests use, installed by the same
# script as `make tools` (from trixie-backports; bookworm's own is too old
# to read today's YouTube). No shell access is needed at run time; the
# process runs as a non-root user.
FROM debian:bookworm-slim
COPY hack/install-yt-dlp.sh /tmp/install-yt-dlp.sh
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && /tmp/install-yt-dlp.sh \
 && rm -rf /var/lib/apt/lists/* /tmp/install-yt-dlp.sh
COPY --from=deno /usr/local/bin/deno /usr/local/bin/deno
COPY --from=build /src/bin/ytx /usr/local/bin/ytx
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ytx"]
