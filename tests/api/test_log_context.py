"""The log context: fields bound for a block reach every line written inside it; a Deferred field
is worked out only when a line that carries it is written, and once."""

from __future__ import annotations

import json
import logging

from comet_provisioning import logs

from tests.fixtures.logs import log_capture

log = logging.getLogger("comet_provisioning.test_log_context")


def test_bound_fields_reach_the_lines_inside_the_block_only() -> None:
    with log_capture(logging.INFO, logger=log.name) as stream:
        with logs.bind(rpc="/x.Y/Z", empty=""):
            with logs.bind(caller="ops"):
                log.info("inner")
            log.info("outer")
        log.info("after")
    inner, outer, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inner["rpc"], inner["caller"]) == ("/x.Y/Z", "ops")
    assert outer["rpc"] == "/x.Y/Z"
    assert "caller" not in outer
    assert "rpc" not in after
    assert "empty" not in inner  # empty values are not bound
    assert logs.log_context() == {}


def test_a_deferred_field_is_computed_only_for_a_written_line_and_once() -> None:
    computed: list[int] = []

    def compute() -> str:
        computed.append(1)
        return "rid-7"

    formatters = (logs.JsonFormatter(), logs.TextFormatter())
    with log_capture(logging.INFO, logger=log.name, formatters=formatters) as stream:
        with logs.bind(request_id=logs.Deferred(compute)):
            log.debug("below the level: nothing is formatted")
            assert computed == []
            log.info("written")
            assert logs.log_context() == {"request_id": "rid-7"}
    json_line, text_line = stream.getvalue().splitlines()
    assert json.loads(json_line)["request_id"] == "rid-7"
    assert "request_id=rid-7" in text_line
    assert computed == [1]  # two formatters and log_context(), one computation
