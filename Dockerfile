# chatbridge container image: the static binary on an empty base, as a
# non-root user, with its data in a volume.
#
# Build it with scripts/container-image, which compiles the binary
# (CGO_ENABLED=0) and prepares the build context this file expects:
#
#   scripts/container-image chatbridge:latest
#
# No base image is pulled (FROM scratch): the image builds offline, from the
# Go toolchain and this repository alone.
FROM scratch

COPY etc/ /etc/
COPY chatbridge /usr/local/bin/chatbridge
COPY --chown=10001:10001 data/ /var/lib/chatbridge/

# The configuration: mount your own at /etc/chatbridge/bridge.toml (start
# from bridge.example.toml); the one in the image listens on every interface
# of the container, port 8080, with the operations endpoints (metrics,
# detailed health) on the container's loopback only.
ENV CHATBRIDGE_CONFIG=/etc/chatbridge/bridge.toml
USER 10001:10001
WORKDIR /var/lib/chatbridge
VOLUME ["/var/lib/chatbridge"]
EXPOSE 8080

# `chatbridge health` asks the server's /healthz (on the operations
# listener) and exits 0 when it is healthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/chatbridge", "health"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chatbridge"]
CMD ["serve"]
