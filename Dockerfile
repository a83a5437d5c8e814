# One image for `ytx manager` and `ytx worker`. It builds bin/ytx with the
# same `make build` that the tests use.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

# Static binary, no shell, no package manager, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/ytx /ytx
USER 65532:65532
ENTRYPOINT ["/ytx"]
