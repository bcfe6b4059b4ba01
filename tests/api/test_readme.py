"""The README's grpcurl walk-through, run as written against `serve --demo`."""

from __future__ import annotations

import json
import re
import subprocess

from tests.fixtures.service import ROOT, ServiceProcess


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- walkthrough:start -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    assert match, "the README lost its walk-through markers"
    return match.group(1)


def test_readme_walkthrough_runs_as_written_twice_in_a_row(service_process: ServiceProcess) -> None:
    service_process.args = ["--demo"]
    service_process.start()
    accounts = []
    for _ in range(2):  # an operator trying it again must not meet the first run's order
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()],
            cwd=ROOT,
            env={**service_process.env, "A": service_process.address},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        replies = [json.loads(chunk) for chunk in _json_objects(result.stdout)]
        created = next(r for r in replies if "generated_password" in r)
        assert created["account"]["status"] == "ACCOUNT_STATUS_ACTIVE"
        assert replies[-1]["account"]["status"] == "ACCOUNT_STATUS_TERMINATED"
        assert replies[-1]["account"]["id"] == created["account"]["id"]
        accounts.append(created["account"]["id"])
    assert accounts[0] != accounts[1]


def _json_objects(stdout: str) -> list[str]:
    """grpcurl prints one pretty JSON object per reply; split them at top-level braces."""
    objects, depth, start = [], 0, 0
    for index, char in enumerate(stdout):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                objects.append(stdout[start : index + 1])
    return objects
