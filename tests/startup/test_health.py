"""`comet-provisioning health`: the listener's gRPC health service, asked with the configured TLS
(and a client certificate under mTLS), as the image's HEALTHCHECK does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from comet_provisioning.health_probe import probe_target
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures.pki import TestCA
from tests.fixtures.service import free_port, service_env
from tests.startup.support import run, serving


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return service_env(tmp_path, COMET_PROVISIONING_LISTEN=f"127.0.0.1:{free_port()}", **settings)


def test_plaintext_serving_is_exit_0_and_nothing_listening_exit_1(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with serving([], env, tmp_path):
        done = run(["health"], env, tmp_path)
        assert (done.returncode, done.stdout.strip()) == (0, "SERVING")
    done = run(["health", "--timeout", "2"], env, tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("comet-provisioning: health: UNAVAILABLE")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_self_signed_listener_is_verified_against_its_own_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "comet-provisioning.internal")
    env = _env(tmp_path, COMET_PROVISIONING_TLS_CERT_FILE=str(cert), COMET_PROVISIONING_TLS_KEY_FILE=str(key))
    with serving([], env, tmp_path):
        done = run(["health"], env, tmp_path)
        assert (done.returncode, done.stdout.strip()) == (0, "SERVING"), done.stderr
        # another certificate than the listener's: refused, not trusted blindly
        other, _ = self_signed(tmp_path, "someone-else.internal")
        refused = run(
            ["health", "--timeout", "2"], {**env, "COMET_PROVISIONING_HEALTH_CA_FILE": str(other)}, tmp_path
        )
        assert refused.returncode == 1


def test_under_mtls_the_probe_presents_its_client_certificate(tmp_path: Path, pki_ca: TestCA) -> None:
    server = pki_ca.issue("comet-provisioning.test", server=True)
    probe = pki_ca.issue("health-probe")
    env = _env(
        tmp_path,
        COMET_PROVISIONING_TLS_CERT_FILE=str(server.cert_file),
        COMET_PROVISIONING_TLS_KEY_FILE=str(server.key_file),
        COMET_PROVISIONING_TLS_CLIENT_CA_FILE=str(pki_ca.cert_file),
        COMET_PROVISIONING_HEALTH_CA_FILE=str(pki_ca.cert_file),
    )
    with serving([], env, tmp_path):
        missing = run(["health"], env, tmp_path)
        assert missing.returncode == 1
        assert "set health_cert_file and health_key_file" in missing.stderr
        with_cert = {
            **env,
            "COMET_PROVISIONING_HEALTH_CERT_FILE": str(probe.cert_file),
            "COMET_PROVISIONING_HEALTH_KEY_FILE": str(probe.key_file),
        }
        done = run(["health"], with_cert, tmp_path)
        assert (done.returncode, done.stdout.strip()) == (0, "SERVING"), done.stderr
        config = tmp_path / "config.toml"  # the file form, as --config or COMET_PROVISIONING_CONFIG
        config.write_text(
            f'listen = "{env["COMET_PROVISIONING_LISTEN"]}"\n'
            f'tls_cert_file = "{server.cert_file}"\ntls_key_file = "{server.key_file}"\n'
            f'tls_client_ca_file = "{pki_ca.cert_file}"\nhealth_ca_file = "{pki_ca.cert_file}"\n'
            f'health_cert_file = "{probe.cert_file}"\nhealth_key_file = "{probe.key_file}"\n'
        )
        bare = {k: v for k, v in env.items() if not k.startswith("COMET_PROVISIONING_")}
        assert run(["health", "--config", str(config)], bare, tmp_path).returncode == 0
        assert run(["health"], {**bare, "COMET_PROVISIONING_CONFIG": str(config)}, tmp_path).returncode == 0


@pytest.fixture
def pki_ca(tmp_path: Path) -> TestCA:
    (tmp_path / "pki").mkdir()
    return TestCA(tmp_path / "pki")


@pytest.mark.parametrize(
    ("listen", "target"),
    [
        ("0.0.0.0:50051", "127.0.0.1:50051"),
        (":50051", "127.0.0.1:50051"),
        ("[::]:50051", "[::1]:50051"),
        ("10.0.0.5:7000", "10.0.0.5:7000"),
        ("[fd00::5]:7000", "[fd00::5]:7000"),
    ],
)
def test_a_wildcard_listener_is_probed_on_loopback(listen: str, target: str) -> None:
    assert probe_target(listen) == target
