# syntax=docker/dockerfile:1
# Multi-stage: build wheels for the client package and the service, install them into a slim
# runtime image that runs as a non-root user, given by number (Kubernetes' runAsNonRoot checks it).
FROM python:3.11-slim AS build
WORKDIR /src
COPY clients/ clients/
COPY pyproject.toml README.md ./
COPY service/ service/
RUN pip wheel --no-cache-dir --wheel-dir /wheels ./clients .

FROM python:3.11-slim
RUN groupadd --gid 10001 comet && useradd --create-home --uid 10001 --gid 10001 comet \
    && mkdir -p /var/lib/comet-provisioning && chown 10001:10001 /var/lib/comet-provisioning
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels comet-provisioning && rm -rf /wheels
USER 10001:10001
ENV COMET_PROVISIONING_DATA_DIR=/var/lib/comet-provisioning \
    COMET_PROVISIONING_LISTEN=0.0.0.0:50051 \
    COMET_PROVISIONING_LOG_FORMAT=json
# The SQLite database (when no database_url is set) and the CA bundles of Comet servers.
VOLUME ["/var/lib/comet-provisioning"]
EXPOSE 50051
# The gRPC health service, asked the way a client would: with the configured TLS, CA and client
# certificate (mTLS). Give the configuration as COMET_PROVISIONING_* variables or a file named by
# COMET_PROVISIONING_CONFIG (not `serve --config`): the probe reads the same.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["comet-provisioning", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["comet-provisioning"]
CMD ["serve"]
