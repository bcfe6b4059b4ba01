"""The `comet-provisioning` command: serve, migrate, health, gen-key, reseal, hash-token, simulator,
loadtest.

A command that cannot go on raises `exits.CommandError` (ConfigError is one): `main` reports it on
one line (a log line once logging is set up, so a JSON log stays JSON) and exits with its code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from importlib import metadata

from comet_provisioning import logs
from comet_provisioning.config import ENV_PREFIX, Settings, load
from comet_provisioning.exits import CommandError, ExitCode

log = logging.getLogger("comet_provisioning")

# The configuration file when --config is not given (the image's HEALTHCHECK reads the same file).
CONFIG_ENV = ENV_PREFIX + "CONFIG"


def _version() -> str:
    try:
        return metadata.version("comet-provisioning")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a tree that is not installed
        return "unknown"


# Defaults that an empty value stands for.
_DERIVED_DEFAULTS = {
    "database_url": "(SQLite in data_dir)",
    "demo_data_dir": "(<data_dir>-demo)",
    "health_ca_file": "(tls_cert_file)",
}


def _environment_help() -> str:
    """Every setting's variable and default, from Settings itself (a new setting shows up here)."""
    defaults = Settings()
    lines = [
        "environment variables (a flag wins over a variable, a variable over the --config file):",
        f"  {CONFIG_ENV:<48} the configuration file, when --config is not given",
    ]
    for item in fields(Settings):
        value = getattr(defaults, item.name)
        if value in ("", []):
            shown = _DERIVED_DEFAULTS.get(item.name, "(none)")
        else:
            shown = str(value).lower() if isinstance(value, bool) else value
        lines.append(f"  {ENV_PREFIX + item.name.upper():<48} {shown}")
    lines.append("lists (tokens, client_certs) take JSON; previous_secret_keys a comma-separated list")
    return "\n".join(lines)


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get(CONFIG_ENV) or None,
        help=f"TOML configuration file (or ${CONFIG_ENV})",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comet-provisioning", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the gRPC service",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_argument(serve)
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:50051)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="run an embedded Comet Server simulator and register it (no Comet server needed); "
        "loopback only, its own data directory (demo_data_dir, default <data_dir>-demo)",
    )
    serve.add_argument(
        "--metrics-listen", help="HOST:PORT for Prometheus /metrics and the /healthz, /readyz probes"
    )

    health = sub.add_parser(
        "health",
        help="ask the configured listener's gRPC health service (with its TLS); exit 0 if SERVING, else 1",
    )
    _config_argument(health)
    health.add_argument("--timeout", type=float, default=4.0, help="seconds to wait (default 4)")

    migrate = sub.add_parser("migrate", help="apply pending database schema migrations and exit")
    _config_argument(migrate)
    migrate.add_argument(
        "--database-url", help="postgresql://... or sqlite:///PATH (default: the configured database)"
    )

    gen_key = sub.add_parser("gen-key", help="print a new secret key (32 random bytes, urlsafe base64)")
    gen_key.add_argument("--out", help="write it to this new file (mode 0600) instead")

    reseal = sub.add_parser(
        "reseal",
        help="seal every stored secret again under secret_key (after a rotation: previous_secret_keys "
        "open the old ones); then the previous keys can be removed",
    )
    _config_argument(reseal)

    sub.add_parser(
        "hash-token",
        help="read a bearer token on stdin, print the sha256:<hex> line for the [[tokens]] configuration",
    )

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


async def _migrate(settings: Settings) -> str | None:
    from comet_provisioning.startup import open_checked_database
    from comet_provisioning.store import DatabaseUnavailable, SchemaUnknown, upgrade

    db = open_checked_database(settings)
    try:
        await db.ping()
        return await upgrade(db)
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc), ExitCode.DATABASE_UNAVAILABLE) from None
    except SchemaUnknown as exc:
        raise CommandError(str(exc), ExitCode.SCHEMA_MISMATCH) from None
    finally:
        await db.close()


def _hash_token() -> int:
    from comet_provisioning.api.auth import hash_token

    token = sys.stdin.readline().strip()
    if not token:
        raise CommandError("hash-token: no token on stdin", ExitCode.CONFIG)
    if len(token) < 16:
        print("comet-provisioning: hash-token: warning: short token; use 32+ random bytes", file=sys.stderr)
    print(hash_token(token))
    return ExitCode.OK


def _health(args: argparse.Namespace) -> int:
    """Docker's HEALTHCHECK convention: 0 healthy, 1 anything else (never 2, which it reserves)."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # a refused handshake is reported below, once
    import grpc

    from comet_provisioning.health_probe import probe

    try:
        status = probe(load(args.config), args.timeout)
    except CommandError as exc:
        print(f"comet-provisioning: health: {exc.message}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        print(f"comet-provisioning: health: {code}: {details}", file=sys.stderr)
        return 1
    print(status)
    return 0 if status == "SERVING" else 1


def _serve(args: argparse.Namespace) -> int:
    settings = load(args.config, overrides={"listen": args.listen, "metrics_listen": args.metrics_listen})
    from comet_provisioning import native_stderr

    native_stderr.route()  # gRPC core's own lines become log lines too
    logs.configure(settings.log_level, settings.log_format)
    logs.capture_stray_output()
    from comet_provisioning import event_loop
    from comet_provisioning.app import serve

    new_loop = event_loop.loop_factory(settings.event_loop)
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(serve(settings, demo=args.demo))
    except CommandError:
        raise
    except Exception:
        log.exception("the service stopped on an unexpected error")  # a JSON log stays JSON
        return ExitCode.FAILURE


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "health":
        return _health(args)
    if args.command == "gen-key":
        from comet_provisioning.key_commands import gen_key

        return gen_key(args.out)
    if args.command == "hash-token":
        return _hash_token()
    if args.command == "migrate":
        settings = load(args.config, overrides={"database_url": args.database_url})
        logs.configure(settings.log_level, settings.log_format)
        revision = asyncio.run(_migrate(settings))
        print(f"database schema at revision {revision}")
        return ExitCode.OK
    if args.command == "reseal":
        from comet_provisioning.key_commands import reseal_command

        settings = load(args.config)
        logs.configure(settings.log_level, settings.log_format)
        return asyncio.run(reseal_command(settings))
    if args.command == "loadtest":
        from comet_provisioning.loadtest import run_command

        logs.configure("WARNING", "auto")
        return asyncio.run(run_command(args))
    if args.command == "simulator":
        from comet_provisioning.sim import cli as sim_cli

        logs.configure("INFO", "auto")
        return asyncio.run(sim_cli.run(args))
    return ExitCode.CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(_run(args))
    except CommandError as exc:
        if args.command == "serve" and logs.is_configured():  # the line goes where the log goes
            log.critical(exc.message, extra={"exit_code": int(exc.exit_code)})
        else:
            print(f"comet-provisioning: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)


if __name__ == "__main__":
    raise SystemExit(main())
