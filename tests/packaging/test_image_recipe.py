"""The container image's recipe, replayed without a Docker engine (none runs on the build machines).

The Dockerfile's build stage (its COPY lines, with .dockerignore's rules, and its `pip wheel` RUN
lines) and its runtime stage (the `pip install` from those wheels only) run into fresh environments;
then the image's ENTRYPOINT and CMD run with its ENV, and its HEALTHCHECK command asks the result.
Paths the image would own (/src, /wheels, the data directory) and the port are moved into a
temporary directory; nothing else is changed. What the recipe does to the OS (the user, its
directory) is left to Docker.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from comet_provisioning_client.v1 import servers_pb2, servers_pb2_grpc

from tests.fixtures.pki import TestCA
from tests.fixtures.service import free_port, new_secret_key
from tests.packaging.dockerfile import Stage, stages
from tests.packaging.venvs import REPO, copy_tree, new_venv

pytestmark = pytest.mark.slow

_DATA_DIR = "/var/lib/comet-provisioning"
_PORT = "50051"
_TOKEN = "image-recipe-token-" + "x" * 24
_KEY = new_secret_key()  # one image, one data volume: every run here uses the same key


@dataclass
class Image:
    root: Path
    bin_dir: Path
    runtime: Stage
    port: int

    def moved(self, text: str) -> str:
        """A recipe string with the image's own paths and port moved into the test's directory."""
        return (
            text.replace(_DATA_DIR, str(self.root / "data"))
            .replace("/wheels", str(self.root / "wheels"))
            .replace(_PORT, str(self.port))
        )

    def env(self, **extra: str) -> dict[str, str]:
        """The image's ENV, its environment's programs first on PATH (as the image's python's are)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMET_PROVISIONING_")}
        env.update({key: self.moved(value) for key, value in self.runtime.env.items()})
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def command(self, argv: list[str]) -> list[str]:
        """A command of the recipe; a bare program name is the image environment's."""
        program, *args = argv
        local = self.bin_dir / program
        return [str(local) if "/" not in program and local.exists() else program, *map(self.moved, args)]


def _run_pip_lines(runs: list[str], pip: Path, cwd: Path, image_root: Path) -> list[str]:
    """Runs the RUN lines that install or build Python packages; returns those left to Docker."""
    skipped = []
    for line in runs:
        if "pip " not in line:
            skipped.append(line)
            continue
        command = line.replace("pip ", f"{pip} ", -1).replace("/wheels", str(image_root / "wheels"))
        subprocess.run(["/bin/sh", "-c", command], cwd=cwd, check=True)
    return skipped


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    build, runtime = stages(REPO / "Dockerfile")
    src = root / "src"
    for source, destination in build.copies:
        target = src / destination
        copy_tree(REPO / source, target / source if destination.endswith("./") else target)
    build_bin = new_venv(root / "build-venv")
    assert _run_pip_lines(build.runs, build_bin / "pip", src, root) == []
    runtime_bin = new_venv(root / "runtime-venv")
    left = _run_pip_lines(runtime.runs, runtime_bin / "pip", root, root)
    assert all("useradd" in line for line in left), left  # only the OS user and its directory
    (root / "data").mkdir()
    return Image(root=root, bin_dir=runtime_bin, runtime=runtime, port=free_port())


def test_the_image_runs_the_wheels_not_the_source_tree(image: Image) -> None:
    where = subprocess.run(
        [
            str(image.bin_dir / "python"),
            "-c",
            "import comet_provisioning, comet_provisioning_client; "
            "print(comet_provisioning.__file__); print(comet_provisioning_client.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=image.root,
    ).stdout.split()
    assert len(where) == 2
    for path in where:
        assert path.startswith(str(image.root / "runtime-venv")), path
    assert not (image.root / "wheels").exists()  # the recipe removes them after installing


def test_the_image_runs_as_a_numeric_user_and_declares_its_data_volume(image: Image) -> None:
    # Kubernetes' runAsNonRoot can only check a numeric user
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", image.runtime.user), image.runtime.user
    assert image.runtime.volumes == [image.runtime.env["COMET_PROVISIONING_DATA_DIR"]]
    assert image.runtime.healthcheck[:2] == ["comet-provisioning", "health"]


def test_unconfigured_the_image_refuses_to_serve_openly(image: Image) -> None:
    key = new_secret_key()
    done = subprocess.run(
        image.command([*image.runtime.entrypoint, *image.runtime.cmd]),
        env=image.env(COMET_PROVISIONING_SECRET_KEY=key),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=image.root,
    )
    assert done.returncode == 2
    assert "refusing to serve plaintext" in done.stderr
    assert "without authentication" in done.stderr


@pytest.fixture
def serving(image: Image) -> Iterator[subprocess.Popen[bytes]]:
    token_hash = subprocess.run(
        [str(image.bin_dir / "comet-provisioning"), "hash-token"],
        input=_TOKEN,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = image.root / "config.toml"
    config.write_text(
        "allow_plaintext = true  # behind a TLS-terminating proxy\n"
        f'secret_key = "{_KEY}"\n'
        f'[[tokens]]\nname = "ops"\nhash = "{token_hash}"\nrole = "admin"\n'
    )
    yield from _serve(image, config)


def _serve(image: Image, config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The ENTRYPOINT and CMD with the image's ENV, the configuration file named as the Dockerfile
    says (COMET_PROVISIONING_CONFIG, which the HEALTHCHECK reads too)."""
    (image.root / "data").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        image.command([*image.runtime.entrypoint, *image.runtime.cmd]),
        env=image.env(COMET_PROVISIONING_CONFIG=str(config)),
        cwd=image.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _healthcheck(image: Image, config: Path) -> int:
    argv = image.command(image.runtime.healthcheck)
    return subprocess.run(
        argv,
        env=image.env(COMET_PROVISIONING_CONFIG=str(config)),
        capture_output=True,
        timeout=30,
        cwd=image.root,
    ).returncode


def _wait_healthy(image: Image, config: Path, serving: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while _healthcheck(image, config) != 0:
        assert serving.poll() is None, "the service exited"
        assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
        time.sleep(0.3)


def test_configured_it_serves_passes_its_healthcheck_and_stops_cleanly(
    image: Image, serving: subprocess.Popen[bytes]
) -> None:
    _wait_healthy(image, image.root / "config.toml", serving)

    with grpc.insecure_channel(f"127.0.0.1:{image.port}") as channel:
        stub = servers_pb2_grpc.ServerServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListServerGroups(servers_pb2.ListServerGroupsRequest(), timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        reply = stub.ListServerGroups(
            servers_pb2.ListServerGroupsRequest(),
            metadata=(("authorization", f"Bearer {_TOKEN}"),),
            timeout=10,
        )
        assert list(reply.server_groups) == []

    serving.send_signal(signal.SIGTERM)  # the image's STOPSIGNAL
    assert serving.wait(timeout=30) == 0


def test_with_mtls_the_healthcheck_passes_and_a_client_certificate_is_served(image: Image) -> None:
    pki = image.root / "pki"
    pki.mkdir(exist_ok=True)
    ca = TestCA(pki)
    server = ca.issue("comet-provisioning.internal", server=True)
    probe = ca.issue("healthcheck")
    ops = ca.issue("ops.internal")
    config = image.root / "mtls.toml"
    config.write_text(
        f'secret_key = "{_KEY}"\n'
        f'tls_cert_file = "{server.cert_file}"\ntls_key_file = "{server.key_file}"\n'
        f'tls_client_ca_file = "{ca.cert_file}"\nhealth_ca_file = "{ca.cert_file}"\n'
        f'health_cert_file = "{probe.cert_file}"\nhealth_key_file = "{probe.key_file}"\n'
        '[[client_certs]]\nname = "ops.internal"\nrole = "admin"\n'
    )
    serving = _serve(image, config)
    proc = next(serving)
    try:
        _wait_healthy(image, config, proc)
        credentials = grpc.ssl_channel_credentials(ca.cert_pem, ops.key_pem, ops.cert_pem)
        with grpc.secure_channel(f"localhost:{image.port}", credentials) as channel:
            stub = servers_pb2_grpc.ServerServiceStub(channel)
            reply = stub.ListServerGroups(servers_pb2.ListServerGroupsRequest(), timeout=10)
        assert list(reply.server_groups) == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert _healthcheck(image, config) == 1  # stopped: unhealthy
    finally:
        serving.close()
