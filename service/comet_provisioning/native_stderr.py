"""What native code writes to the process's stderr, made into log lines.

gRPC core (C++) writes its own lines (`I1130 12:00:00.000 123 ssl_transport_security.cc:2563]
Handshake failed ...`) straight to file descriptor 2, around Python's logging. `route()` points
fd 2 at a pipe and gives Python's own stderr a duplicate of the original: a thread reads the pipe
and logs each line through `logging`, so with log_format=json every line on the stream is JSON.

A TLS handshake failure is one line per bad connection (a port scanner, a client speaking
plaintext or without its certificate): those become one WARNING at most per interval, carrying how
many failures it stands for.
"""

from __future__ import annotations

import logging
import os
import re
import select
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["HandshakeFailures", "route"]

log = logging.getLogger("comet_provisioning.tls")
native_log = logging.getLogger("grpc.core")

# absl's prefix: severity, MMDD, time, thread id, file:line]
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ ([^\]\s]+)\] ?(.*)$")
_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
_HANDSHAKE = re.compile(r"handshake failed", re.IGNORECASE)
HANDSHAKE_INTERVAL_S = 60.0

_routed = False


class HandshakeFailures:
    """Counts TLS handshake failures; logs the first at once, then at most one line per interval."""

    def __init__(self, interval_s: float = HANDSHAKE_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s
        self._clock = clock
        self._pending = 0
        self._last_detail = ""
        self._next_line = 0.0

    def seen(self, detail: str) -> None:
        self._pending += 1
        self._last_detail = detail
        self.flush()

    def flush(self) -> None:
        """Writes the line owed, if any and if the interval has passed."""
        now = self._clock()
        if not self._pending or now < self._next_line:
            return
        log.warning(
            "TLS handshake failed: a client spoke plaintext, refused our certificate or had none we accept",
            extra={"failures": self._pending, "interval_s": self.interval_s, "detail": self._last_detail},
        )
        self._pending = 0
        self._next_line = now + self.interval_s


def _emit(line: str, handshakes: HandshakeFailures) -> None:
    match = _ABSL_LINE.match(line)
    if match is None:
        native_log.warning(line, extra={"source": "stderr"})
        return
    severity, source, text = match.groups()
    if _HANDSHAKE.search(text):
        handshakes.seen(text)
        return
    native_log.log(_LEVELS[severity], text, extra={"source": source})


def _pump(read_fd: int, handshakes: HandshakeFailures) -> None:
    pending = b""
    while True:
        ready, _, _ = select.select([read_fd], [], [], handshakes.interval_s)
        if not ready:
            handshakes.flush()
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            text = raw.decode(errors="replace").rstrip()
            if text:
                _emit(text, handshakes)
        handshakes.flush()


def route() -> None:
    """Points fd 2 at the pump; Python's sys.stderr keeps writing where stderr went. Call before
    logging is configured (its handler then writes to the new sys.stderr). Once per process."""
    global _routed
    if _routed:
        return
    _routed = True
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = os.fdopen(original, "w", buffering=1, errors="backslashreplace")
    threading.Thread(
        target=_pump, args=(read_fd, HandshakeFailures()), name="native-stderr", daemon=True
    ).start()
