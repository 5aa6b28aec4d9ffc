# syntax=docker/dockerfile:1
# The streamgate image: one static binary (the nine services, `streamgate
# embedded etcd|nats`, the CLI) with the web app embedded, on Alpine for
# ffmpeg and ffprobe (the transcoder and upload's probe run them).
#
#   make image                      # docker build -t streamgate:$(VERSION) .
#   docker build --build-arg VERSION=v1.2.3 -t streamgate:v1.2.3 .

# --- the web app: `make web` (vite build web into web/dist) -----------------
FROM node:22-bookworm-slim AS web
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
# The app imports the generated TypeScript client (gen/ts/src, alias @gen).
COPY gen/ts ./gen/ts
COPY web ./web
RUN node_modules/.bin/vite build web --logLevel warn

# --- the binary -------------------------------------------------------------
# Pure Go (the SQLite driver is modernc.org/sqlite): CGO_ENABLED=0 gives a
# static binary that runs on any base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-trimpath
COPY go.mod go.sum ./
COPY gen/go/go.mod gen/go/go.sum ./gen/go/
RUN go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
ARG VERSION=dev
RUN go build -ldflags "-s -w -X github.com/streamgate/streamgate/internal/buildinfo.version=${VERSION}" \
      -o /out/streamgate ./cmd/streamgate

# --- runtime ----------------------------------------------------------------
FROM alpine:3.22
RUN apk add --no-cache ffmpeg ca-certificates tzdata \
 && mkdir -p /var/lib/streamgate /var/lib/etcd /var/lib/nats \
 && chown 65532:65532 /var/lib/streamgate /var/lib/etcd /var/lib/nats
COPY --from=build /out/streamgate /usr/local/bin/streamgate
USER 65532:65532
WORKDIR /var/lib/streamgate
# mesh 8443, gateway HTTP 8080, admin 9090; etcd 2379/2380; NATS 4222/6222.
EXPOSE 8080 8443 9090
ENTRYPOINT ["/usr/local/bin/streamgate"]
CMD ["--help"]
