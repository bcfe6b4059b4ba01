"""`comet-provisioning health`: asks the service's own listener (grpc.health.v1 Check) the way a
client would, with the configured TLS: the listener's certificate is verified (health_ca_file, or
tls_cert_file itself when it is self-signed) under the name it carries, and under mTLS the probe
presents health_cert_file/health_key_file. What the image's HEALTHCHECK runs."""

from __future__ import annotations

from pathlib import Path

from comet_provisioning.config import ConfigError, Settings

__all__ = ["probe", "probe_target"]


def probe_target(listen: str) -> str:
    """Where to reach a listener from its own host: a wildcard address becomes loopback."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in {"", "0.0.0.0"}:  # noqa: S104 - recognising the wildcard, not binding it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"setting {setting!r}: cannot read {path}: {exc.strerror or exc}") from None


def _certificate_name(pem: bytes) -> str:
    """The first DNS or IP name the listener's certificate holds (else its CN): what to verify."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificates(pem)[0]  # the leaf: a chain file starts with it
    except ValueError:
        raise ConfigError("setting 'tls_cert_file': not a PEM certificate") from None
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None
    if sans is not None:
        names = sans.get_values_for_type(x509.DNSName)
        if names:
            return str(names[0])
        addresses = sans.get_values_for_type(x509.IPAddress)
        if addresses:
            return str(addresses[0])
    common = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common[0].value) if common else ""


def probe(settings: Settings, timeout_s: float = 4.0) -> str:
    """The status name the listener reports for the whole server ("SERVING", ...); raises
    grpc.RpcError when it cannot be asked, ConfigError when the probe's TLS settings are incomplete."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = probe_target(settings.listen)
    options: list[tuple[str, str]] = []
    if settings.tls_cert_file:
        server_cert = _read("tls_cert_file", settings.tls_cert_file)
        roots = _read("health_ca_file", settings.health_ca_file) if settings.health_ca_file else server_cert
        key = chain = None
        if settings.tls_client_ca_file:
            if not (settings.health_cert_file and settings.health_key_file):
                raise ConfigError(
                    "the listener requires client certificates (tls_client_ca_file): set health_cert_file "
                    "and health_key_file to a certificate that CA signed, for the health probe"
                )
            chain = _read("health_cert_file", settings.health_cert_file)
            key = _read("health_key_file", settings.health_key_file)
        name = _certificate_name(server_cert)
        if name:
            options.append(("grpc.ssl_target_name_override", name))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=roots, private_key=key, certificate_chain=chain
        )
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
