"""What a caller installs: `pip install ./clients` into an empty environment gets the generated
messages and stubs with their type stubs and the typed client, and does not pull in the server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.packaging.venvs import REPO, copy_tree, installed, new_venv

pytestmark = pytest.mark.slow

# What the client package may bring with it (pip and its build tools aside): its three dependencies
# and theirs (grpcio-status needs googleapis-common-protos; grpcio, typing-extensions).
ALLOWED = {
    "comet-provisioning-client",
    "grpcio",
    "grpcio-status",
    "protobuf",
    "googleapis-common-protos",
    "typing-extensions",
}
TOOLING = {"pip", "setuptools", "wheel"}


@pytest.fixture(scope="module")
def client_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client-package")
    copy_tree(REPO / "clients", root / "clients")  # the build writes its metadata beside the sources
    bin_dir = new_venv(root / "venv")
    subprocess.run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", str(root / "clients")],
        check=True,
    )
    return bin_dir


def _python(bin_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True)


def test_it_brings_only_grpc_and_protobuf(client_env: Path) -> None:
    names = installed(client_env) - TOOLING
    assert "comet-provisioning-client" in names
    assert names <= ALLOWED, names - ALLOWED
    assert "comet-provisioning" not in names


def test_the_server_is_not_importable_and_the_client_is(client_env: Path) -> None:
    server = _python(client_env, "import comet_provisioning")
    assert server.returncode != 0
    assert "ModuleNotFoundError" in server.stderr
    client = _python(
        client_env,
        "from comet_provisioning_client import ProvisioningClient, ProvisioningError\n"
        "from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc\n"
        "print(accounts_pb2.CreateAccountRequest.DESCRIPTOR.full_name)",
    )
    assert client.returncode == 0, client.stderr
    assert client.stdout.strip() == "comet.provisioning.v1.CreateAccountRequest"


def test_it_ships_its_type_information(client_env: Path) -> None:
    found = _python(
        client_env,
        "import pathlib, comet_provisioning_client as c\n"
        "root = pathlib.Path(c.__file__).parent\n"
        "print(sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.suffix in {'.pyi', '.typed'}))",
    )
    assert found.returncode == 0, found.stderr
    shipped = found.stdout
    for name in ("py.typed", "v1/accounts_pb2.pyi", "v1/catalog_pb2.pyi", "v1/servers_pb2.pyi"):
        assert f"'{name}'" in shipped, shipped


def test_it_ships_the_contract_with_its_comments(client_env: Path) -> None:
    """The service's reflection reads the descriptor set from the installed client package."""
    found = _python(
        client_env,
        "from importlib import resources\n"
        "from google.protobuf import descriptor_pb2\n"
        "data = resources.files('comet_provisioning_client.v1').joinpath('descriptors.binpb').read_bytes()\n"
        "files = descriptor_pb2.FileDescriptorSet.FromString(data).file\n"
        "accounts = next(f for f in files if f.name == 'comet/provisioning/v1/accounts.proto')\n"
        "print(any('Records an order' in l.leading_comments for l in accounts.source_code_info.location))",
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "True"
