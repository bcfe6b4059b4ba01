# syntax=docker/dockerfile:1
# Multi-stage: build wheels for the client package and the service, install them into a slim
# runtime image that runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY clients/ clients/
COPY pyproject.toml README.md ./
COPY service/ service/
# The service's dependencies include grpcio-health-checking, which the HEALTHCHECK below uses.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ./clients .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 comet \
    && mkdir -p /var/lib/comet-provisioning && chown comet /var/lib/comet-provisioning
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels comet-provisioning && rm -rf /wheels
USER comet
ENV COMET_PROVISIONING_DATA_DIR=/var/lib/comet-provisioning \
    COMET_PROVISIONING_LISTEN=0.0.0.0:50051 \
    COMET_PROVISIONING_LOG_FORMAT=json
EXPOSE 50051
# The gRPC health service, asked with the grpc library the image already has (TLS or plaintext
# as configured is the operator's business: this probe targets the in-container listener).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; c=grpc.insecure_channel('127.0.0.1:50051'); sys.exit(0 if g.HealthStub(c).Check(h.HealthCheckRequest(), timeout=4).status == h.HealthCheckResponse.SERVING else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["comet-provisioning"]
CMD ["serve"]
