"""Generate Python messages, gRPC stubs and mypy stubs from proto/ into the client package.

protoc names generated modules after the proto package (`comet.provisioning.v1`), which would put
a bare `comet` package into site-packages. So the generated files are moved into
`comet_provisioning_client/v1/` and their imports of each other rewritten to that path, the way
temporalio's SDK does it. The output depends only on proto/ and the pinned grpcio-tools and
mypy-protobuf versions, so `--check` can fail CI when committed code is stale.

Beside them goes `descriptors.binpb`: a FileDescriptorSet of the contract and everything it imports,
built with source info, so the service's reflection can show the .proto comments (`grpcurl describe`).
protoc serializes it deterministically, so `--check` covers it like the code.

Usage: python scripts/gen_protos.py [--check]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE_DIR = Path("comet/provisioning/v1")
OUT_DIR = ROOT / "clients" / "comet_provisioning_client" / "v1"
TARGET_MODULE = "comet_provisioning_client.v1"
DESCRIPTOR_SET = "descriptors.binpb"

_FROM_IMPORT = re.compile(r"^from comet\.provisioning\.v1 import ", re.MULTILINE)
_DOTTED = re.compile(r"\bcomet\.provisioning\.v1\.(\w+_pb2(?:_grpc)?)\b")


def _rewrite(text: str) -> str:
    text = _FROM_IMPORT.sub(f"from {TARGET_MODULE} import ", text)
    return _DOTTED.sub(lambda m: f"{TARGET_MODULE}.{m.group(1)}", text)


def generate(into: Path) -> None:
    import grpc_tools

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PROTO_PACKAGE_DIR).glob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    raw = into / "raw"
    raw.mkdir(parents=True)
    bindir = Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={raw}",
        f"--grpc_python_out={raw}",
        f"--mypy_out={raw}",
        f"--mypy_grpc_out={raw}",
        f"--descriptor_set_out={raw / DESCRIPTOR_SET}",
        "--include_source_info",
        "--include_imports",
        *protos,
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)  # noqa: S603 - fixed argv
    out = into / "v1"
    out.mkdir()
    for path in sorted((raw / PROTO_PACKAGE_DIR).iterdir()):
        (out / path.name).write_text(_rewrite(path.read_text()))
    shutil.copyfile(raw / DESCRIPTOR_SET, out / DESCRIPTOR_SET)
    (out / "__init__.py").write_text('"""Generated from proto/comet/provisioning/v1. Do not edit."""\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "v1"
        if args.check:
            stale = _diff(fresh, OUT_DIR)
            if stale:
                print("generated code is stale; run `make gen`:", *stale, sep="\n  ", file=sys.stderr)
                return 1
            print("generated code is fresh")
            return 0
        if OUT_DIR.exists():
            shutil.rmtree(OUT_DIR)
        shutil.copytree(fresh, OUT_DIR)
    print(f"generated {len(list(OUT_DIR.iterdir()))} files into {OUT_DIR.relative_to(ROOT)}")
    return 0


def _diff(fresh: Path, committed: Path) -> list[str]:
    names = {p.name for p in fresh.iterdir()} | (
        {p.name for p in committed.iterdir() if p.is_file()} if committed.exists() else set()
    )
    stale = []
    for name in sorted(names):
        a, b = fresh / name, committed / name
        if not a.exists() or not b.exists() or a.read_bytes() != b.read_bytes():
            stale.append(name)
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
