"""The load generator: `comet-provisioning loadtest` creates accounts concurrently through the client
package, summarizes latency and outcomes ghz-style and, with --verify, checks the Comet servers.

Programmatic use: `from comet_provisioning.loadtest.loadtest import LoadTestConfig, run_loadtest`.
Importing this package stays light (no aiohttp) so the CLI starts fast.
"""

from .cli import add_arguments, run_command
from .credentials import CometCredentials

__all__ = ["CometCredentials", "add_arguments", "run_command"]
