# Build: docker build -t vmevents:latest .   (make docker-build)
# One static binary; the controller and the agent are its subcommands.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY main.go cmd_*.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY qmpagent/ qmpagent/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/vmevents/vmevents/internal/version.Version=${VERSION}" -o /out/vmevents .

# distroless static: no shell, no package manager. The image's default user
# is nonroot (65532); the controller Deployment runs as it, and the agent
# DaemonSet overrides it with root because QEMU's sockets belong to root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vmevents /vmevents
USER 65532:65532
ENTRYPOINT ["/vmevents"]
