"""Token/certificate configuration (TOML and environment) and the listener exposure rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from comet_provisioning.api.auth import hash_token
from comet_provisioning.api.tls import is_loopback, plan_exposure
from comet_provisioning.app import running_service
from comet_provisioning.config import ClientCertEntry, ConfigError, Settings, TokenEntry, load

from tests.fixtures.pki import TestCA
from tests.fixtures.service import BIN, service_env
from tests.security.conftest import make_settings

HASH = hash_token("a-very-secret-token")


def test_tokens_and_client_certs_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "service.toml"
    config.write_text(
        f"""
listen = "0.0.0.0:50051"
tls_cert_file = "/etc/cp/server.crt"
tls_key_file = "/etc/cp/server.key"
tls_client_ca_file = "/etc/cp/clients-ca.crt"
reflection_public = false
max_waiting_per_server = 50

[[tokens]]
name = "billing"
hash = "{HASH}"
role = "provisioner"

[[tokens]]
name = "ops"
hash = "{hash_token("another")}"
role = "admin"

[[client_certs]]
name = "support.internal"
role = "viewer"
"""
    )
    settings = load(str(config), env={})
    assert settings.tokens == [
        TokenEntry("billing", HASH, "provisioner"),
        TokenEntry("ops", hash_token("another"), "admin"),
    ]
    assert settings.client_certs == [ClientCertEntry("support.internal", "viewer")]
    assert settings.reflection_public is False
    assert settings.max_waiting_per_server == 50
    assert HASH not in repr(settings)


def test_tokens_from_the_environment_as_json() -> None:
    env = {"COMET_PROVISIONING_TOKENS": json.dumps([{"name": "ci", "hash": HASH.upper(), "role": "viewer"}])}
    # the hex may be given in capitals; the prefix too
    env["COMET_PROVISIONING_TOKENS"] = env["COMET_PROVISIONING_TOKENS"].replace("SHA256:", "sha256:")
    settings = load(env=env)
    assert settings.tokens == [TokenEntry("ci", HASH, "viewer")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not valid JSON"),
        (json.dumps([{"name": "x", "hash": HASH}]), "expected keys"),
        (json.dumps([{"name": "x", "hash": HASH, "role": "root"}]), "role must be one of"),
        (json.dumps([{"name": "", "hash": HASH, "role": "admin"}]), "name must not be empty"),
        (json.dumps([{"name": "x", "hash": "a-very-secret-token", "role": "admin"}]), "sha256:<64 hex"),
        (
            json.dumps(
                [{"name": "x", "hash": HASH, "role": "admin"}, {"name": "x", "hash": HASH, "role": "viewer"}]
            ),
            "unique",
        ),
    ],
)
def test_bad_token_configuration_names_the_setting_without_echoing_it(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(env={"COMET_PROVISIONING_TOKENS": raw})
    assert "tokens" in str(caught.value)
    assert message in str(caught.value)
    assert "a-very-secret-token" not in str(caught.value)


def settings(**changes: object) -> Settings:
    return Settings(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.3.4.5:1", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.1.2.3:50051", False),
        ("grpc.example.com:443", False),
    ],
)
def test_loopback_detection(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback


def test_loopback_without_auth_or_tls_is_allowed_quietly() -> None:
    exposure = plan_exposure(settings())
    assert exposure.plaintext
    assert not exposure.auth_enabled
    assert exposure.warnings == ()


def test_no_authentication_on_a_public_address_is_refused() -> None:
    tokens = [TokenEntry("a", HASH, "admin")]
    with pytest.raises(ConfigError, match=r"without authentication.*'tokens'.*COMET_PROVISIONING_TOKENS"):
        plan_exposure(settings(listen="0.0.0.0:50051", allow_plaintext=True))
    with pytest.raises(ConfigError, match=r"plaintext.*'allow_plaintext = true'"):
        plan_exposure(settings(listen="0.0.0.0:50051", tokens=tokens))
    exposure = plan_exposure(settings(listen="0.0.0.0:50051", tokens=tokens, allow_plaintext=True))
    assert exposure.auth_enabled
    assert any("PLAINTEXT" in w for w in exposure.warnings)


def test_demo_is_open_on_loopback_only() -> None:
    exposure = plan_exposure(settings(listen="127.0.0.1:50051"), demo=True)
    assert exposure.plaintext
    assert not exposure.auth_enabled
    for listen in ("0.0.0.0:50051", "[::]:50051", "10.1.2.3:50051"):
        with pytest.raises(
            ConfigError, match=r"--demo listens on loopback addresses only.*--listen 127\.0\.0\.1"
        ):
            plan_exposure(settings(listen=listen, allow_plaintext=True), demo=True)


def test_tls_settings_must_be_complete(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    server = ca.issue("server", server=True)
    with pytest.raises(ConfigError, match="set together"):
        plan_exposure(settings(tls_cert_file=str(server.cert_file)))
    with pytest.raises(ConfigError, match="tls_client_ca_file"):
        plan_exposure(settings(tls_client_ca_file=str(ca.cert_file)))
    with pytest.raises(ConfigError, match=r"client_certs.*tls_client_ca_file"):
        plan_exposure(settings(client_certs=[ClientCertEntry("x", "admin")]))
    with pytest.raises(ConfigError, match=r"tls_key_file.*cannot read"):
        plan_exposure(
            settings(tls_cert_file=str(server.cert_file), tls_key_file=str(tmp_path / "missing.key"))
        )
    exposure = plan_exposure(
        settings(
            listen="0.0.0.0:1",
            tls_cert_file=str(server.cert_file),
            tls_key_file=str(server.key_file),
            tls_client_ca_file=str(ca.cert_file),
        )
    )
    assert not exposure.plaintext
    assert exposure.mtls
    assert exposure.auth_enabled  # a client CA alone authenticates (certificates)
    assert exposure.warnings == ()


async def test_running_service_refuses_before_opening_anything(tmp_path: Path) -> None:
    unsafe = make_settings(tmp_path / "data", listen="0.0.0.0:0")
    with pytest.raises(ConfigError, match="without authentication"):
        async with running_service(unsafe):
            pytest.fail("started")
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_serve_refuses_to_start_open_on_a_public_address(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "comet-provisioning"), "serve", "--listen", "0.0.0.0:0"],
        env=service_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to serve without authentication" in result.stderr
    assert "COMET_PROVISIONING_TOKENS" in result.stderr
    assert "Traceback" not in result.stderr


def test_hash_token_subcommand(tmp_path: Path) -> None:
    run = [str(BIN / "comet-provisioning"), "hash-token"]
    result = subprocess.run(run, input="a-very-secret-token\n", capture_output=True, text=True, check=True)
    assert result.stdout.strip() == HASH
    assert "a-very-secret-token" not in result.stdout + result.stderr
    empty = subprocess.run(run, input="", capture_output=True, text=True, check=False)
    assert empty.returncode == 2
