# One image for `ytx manager` and `ytx worker`. It builds bin/ytx with the
# same `make build` that the tests use: a static, CGO-free binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

# The worker runs ffmpeg (mp3 transcoding, tagging, muxing), so the runtime is
# Debian's slim image with Debian's ffmpeg, the one the tests use. No shell
# access is needed at run time; the process runs as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/ytx /usr/local/bin/ytx
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ytx"]
