# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) -t atlas-snapshot-exporter .
# The binary is static (CGO_ENABLED=0) and needs nothing from the image but
# CA certificates: cmd/exporter's TestEmptyRoot runs it in an empty root
# built the same way.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/exporter ./cmd/exporter

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), and nothing else (no shell).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/exporter /usr/local/bin/exporter
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/exporter"]
CMD ["run"]
