"""The operations listener (`metrics_listen`): Prometheus text at /metrics, /healthz and /readyz for
Kubernetes HTTP probes; any other path is 404. Served on its own thread, so scrapes and probes are
answered while the event loop is busy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from comet_provisioning.metrics import parse_listen

__all__ = ["OpsListener"]

Probe = Callable[[], tuple[bool, str]]
StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds: no access log."""


def _server_class(host: str) -> type[WSGIServer]:
    family = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingMixIn, WSGIServer):
        address_family = family
        daemon_threads = True

    return Server


class OpsListener:
    def __init__(
        self,
        registry: CollectorRegistry,
        listen: str,
        *,
        live: Probe | None = None,
        ready: Probe | None = None,
    ) -> None:
        self.host, self.port = parse_listen(listen)
        self._metrics = make_wsgi_app(registry)
        self._probes = {"/healthz": live or _always, "/readyz": ready or _always}
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body: Iterable[bytes] = self._metrics(environ, start_response)
            return body
        probe = self._probes.get(path)
        if probe is None:
            return _text(start_response, "404 Not Found", "not found: see /metrics, /healthz, /readyz\n")
        ok, why = probe()
        return _text(start_response, "200 OK" if ok else "503 Service Unavailable", why + "\n")

    def start(self) -> int:
        """Binds and serves; returns the port (OSError if the address cannot be bound)."""
        server = make_server(
            self.host,
            self.port,
            self._app,
            server_class=_server_class(self.host),
            handler_class=_QuietHandler,
        )
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="ops-http", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(5)
            self._server = None


def _always() -> tuple[bool, str]:
    return True, "ok"


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]
