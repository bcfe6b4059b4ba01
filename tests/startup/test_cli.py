"""The command's own surface: --version, the variables in `serve --help`, gen-key, reseal, and the
README's environment form of the token configuration."""

from __future__ import annotations

import re
import stat
from dataclasses import fields
from importlib import metadata
from pathlib import Path

from comet_provisioning.config import Settings, TokenEntry, load
from comet_provisioning.crypto import load_key

from tests.fixtures.service import ROOT, new_secret_key, service_env
from tests.startup.support import run, serving


def test_version(tmp_path: Path) -> None:
    done = run(["--version"], service_env(tmp_path), tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"comet-provisioning {metadata.version('comet-provisioning')}"


def test_serve_help_lists_every_environment_variable(tmp_path: Path) -> None:
    done = run(["serve", "--help"], service_env(tmp_path), tmp_path)
    assert done.returncode == 0
    for item in fields(Settings):
        assert f"COMET_PROVISIONING_{item.name.upper()} " in done.stdout, item.name
    assert re.search(r"COMET_PROVISIONING_LISTEN\s+127\.0\.0\.1:50051", done.stdout)
    assert "COMET_PROVISIONING_CONFIG" in done.stdout


def test_gen_key_prints_or_writes_a_usable_key(tmp_path: Path) -> None:
    printed = run(["gen-key"], service_env(tmp_path), tmp_path)
    assert printed.returncode == 0
    assert len(load_key(printed.stdout.strip(), "")) == 32
    assert run(["gen-key"], service_env(tmp_path), tmp_path).stdout != printed.stdout
    target = tmp_path / "secret.key"
    assert run(["gen-key", "--out", str(target)], service_env(tmp_path), tmp_path).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(load_key("", str(target))) == 32
    again = run(["gen-key", "--out", str(target)], service_env(tmp_path), tmp_path)
    assert again.returncode == 2
    assert "never overwritten" in again.stderr


def test_readme_token_configuration_in_the_environment_works_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    exported = dict(re.findall(r"^export (COMET_PROVISIONING_\w+)='(.*)'$", readme, re.M))
    assert {"COMET_PROVISIONING_TOKENS", "COMET_PROVISIONING_CLIENT_CERTS"} <= exported.keys()
    token_hash = "sha256:" + "ab" * 32
    env = {name: value.replace("sha256:<64 hex digits>", token_hash) for name, value in exported.items()}
    settings = load(env=env)
    assert settings.tokens == [TokenEntry("billing", token_hash, "provisioner")]
    assert [(c.name, c.role) for c in settings.client_certs] == [("ops.internal", "admin")]


def test_previous_keys_take_a_list_in_every_form(tmp_path: Path) -> None:
    one, two = new_secret_key(), new_secret_key()
    assert load(env={"COMET_PROVISIONING_PREVIOUS_SECRET_KEYS": f"{one},{two}"}).previous_secret_keys == [
        one,
        two,
    ]
    assert load(env={"COMET_PROVISIONING_PREVIOUS_SECRET_KEYS": f'["{one}"]'}).previous_secret_keys == [one]
    config = tmp_path / "config.toml"
    config.write_text(f'previous_secret_keys = ["{one}", "{two}"]\nprevious_secret_key_files = ["/k"]\n')
    loaded = load(str(config), env={})
    assert (loaded.previous_secret_keys, loaded.previous_secret_key_files) == ([one, two], ["/k"])
    assert one not in repr(loaded)


def test_a_rotation_with_reseal_end_to_end(tmp_path: Path) -> None:
    """Old key, then new key with the old one for reading, reseal, then the new key alone."""
    old, new = new_secret_key(), new_secret_key()
    database = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    base = service_env(tmp_path, COMET_PROVISIONING_DATABASE_URL=database)
    with serving(
        ["--demo", "--listen", "127.0.0.1:0"], {**base, "COMET_PROVISIONING_SECRET_KEY": old}, tmp_path
    ):
        pass  # the demo seals its server's admin password under the old key
    rotating = {**base, "COMET_PROVISIONING_SECRET_KEY": new, "COMET_PROVISIONING_PREVIOUS_SECRET_KEYS": old}
    with serving(["--demo", "--listen", "127.0.0.1:0"], rotating, tmp_path) as log:
        assert "run `comet-provisioning reseal`" in log.read_text()
    too_early = run(["reseal"], {**base, "COMET_PROVISIONING_SECRET_KEY": new}, tmp_path)
    assert too_early.returncode == 2  # without the old key nothing opens the check value yet
    resealed = run(["reseal"], rotating, tmp_path)
    assert resealed.returncode == 0, resealed.stderr
    assert "re-sealed 1 server admin password(s)" in resealed.stdout
    with serving(
        ["--demo", "--listen", "127.0.0.1:0"], {**base, "COMET_PROVISIONING_SECRET_KEY": new}, tmp_path
    ):
        pass
    refused = run(["reseal"], {**base, "COMET_PROVISIONING_SECRET_KEY": old}, tmp_path)
    assert refused.returncode == 2
    assert "does not match the database" in refused.stderr
