"""The `comet-provisioning` command: serve, migrate, hash-token, simulator, loadtest."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from comet_provisioning import logs
from comet_provisioning.config import ConfigError, load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comet-provisioning", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC service")
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:50051)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="run an embedded Comet Server simulator and register it (no Comet server needed)",
    )
    serve.add_argument("--metrics-listen", help="HOST:PORT to serve Prometheus /metrics on (default: none)")

    sub.add_parser(
        "hash-token",
        help="read a bearer token on stdin, print the sha256:<hex> line for the [[tokens]] configuration",
    )

    migrate = sub.add_parser("migrate", help="apply pending database schema migrations and exit")
    migrate.add_argument("--config", help="TOML configuration file")
    migrate.add_argument("--database-url", help="SQLAlchemy URL (default: the configured database)")

    loadtest = sub.add_parser(
        "loadtest", help="create accounts concurrently against a running service and summarize"
    )
    from comet_provisioning.loadtest import add_arguments as add_loadtest_arguments

    add_loadtest_arguments(loadtest)

    sim = sub.add_parser("simulator", help="run a standalone Comet Server simulator")
    try:
        from comet_provisioning.sim import cli as sim_cli
    except ImportError:
        sim_cli = None  # type: ignore[assignment]
    if sim_cli is not None:
        sim_cli.add_arguments(sim)
    return parser


async def _migrate(url: str) -> str | None:
    from comet_provisioning.store import open_database, upgrade

    db = open_database(url)
    try:
        return await upgrade(db)
    finally:
        await db.close()


def _hash_token() -> int:
    from comet_provisioning.api.auth import hash_token

    token = sys.stdin.readline().strip()
    if not token:
        print("comet-provisioning: hash-token: no token on stdin", file=sys.stderr)
        return 2
    if len(token) < 16:
        print("comet-provisioning: hash-token: warning: short token; use 32+ random bytes", file=sys.stderr)
    print(hash_token(token))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        try:
            settings = load(
                args.config, overrides={"listen": args.listen, "metrics_listen": args.metrics_listen}
            )
        except ConfigError as exc:
            print(f"comet-provisioning: {exc}", file=sys.stderr)
            return 2
        logs.configure(settings.log_level, settings.log_format)
        from comet_provisioning.app import serve

        try:
            return asyncio.run(serve(settings, demo=args.demo))
        except ConfigError as exc:
            print(f"comet-provisioning: {exc}", file=sys.stderr)
            return 2
    if args.command == "hash-token":
        return _hash_token()
    if args.command == "migrate":
        try:
            settings = load(args.config, overrides={"database_url": args.database_url})
        except ConfigError as exc:
            print(f"comet-provisioning: {exc}", file=sys.stderr)
            return 2
        logs.configure(settings.log_level, settings.log_format)
        revision = asyncio.run(_migrate(settings.effective_database_url))
        print(f"database schema at revision {revision}")
        return 0
    if args.command == "loadtest":
        from comet_provisioning.loadtest import run_command

        logs.configure("WARNING", "auto")
        return asyncio.run(run_command(args))
    if args.command == "simulator":
        from comet_provisioning.sim import cli as sim_cli

        logs.configure("INFO", "auto")
        return asyncio.run(sim_cli.run(args))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
