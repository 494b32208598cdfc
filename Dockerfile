# syntax=docker/dockerfile:1
#
# The shipper image: a static binary (CGO_ENABLED=0) on distroless "static",
# which holds CA certificates, /etc/passwd with a nonroot user (65532), tzdata
# and nothing else: no shell, no package manager. The health check of
# docker-compose.yml uses /usr/local/bin/probe, since there is no curl.
#
#   docker build -t shipper:dev .
#   docker run --rm shipper:dev --help
#
# The default command is `run` (the entrypoint is the shipper itself):
#   docker run -e ELASTICSEARCH_URL=... -e SHIPPER_INPUT=forward -p 24224:24224 shipper:dev
#   docker run -e ELASTICSEARCH_URL=... -e KIBANA_URL=... shipper:dev setup

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The caches (modules, build) persist between builds; go build downloads only
# the modules the binaries need, not the test-only ones of go.mod.
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# -trimpath and -buildvcs=false: reproducible, no build paths or .git needed.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" \
        -o /out/shipper ./cmd/shipper && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/probe ./cmd/probe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shipper /out/probe /usr/local/bin/
# 65532 is distroless' "nonroot". Numeric, so that Kubernetes' runAsNonRoot
# can check it without /etc/passwd.
USER 65532:65532
# 24224: Fluent Forward input; 8686: /healthz, /readyz and /metrics
# (SHIPPER_HTTP_ADDRESS=:8686).
EXPOSE 24224 8686
ENV SHIPPER_HTTP_ADDRESS=:8686
ENTRYPOINT ["/usr/local/bin/shipper"]
CMD ["run"]
