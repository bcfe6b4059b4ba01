#!/usr/bin/env bash
# CI load step, two runs, each verified on the simulator through its admin API:
# 1. the demo service (embedded Comet Server simulator), 200 accounts at concurrency 50 with
#    re-sends and username collisions;
# 2. the service and a standalone simulator answering as the "hostile" behaviour profile (duplicates
#    answered 500, unknown users 403, a proxy's 502 on every 7th call, half of them after Comet acted,
#    a clock 45 s ahead), 500 accounts with 20 % colliding names and foreign Comet users under 10 %
#    of the names, callers that retry with the same request_id (tests/reliability/profile_load.py).
# Fails on any failure, duplicate, orphan, Comet user without limits or foreign user touched.
# Usage: scripts/ci_load.sh [extra loadtest args for the first run]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
ACCOUNTS="${CI_LOAD_ACCOUNTS:-200}"
HOSTILE_ACCOUNTS="${CI_LOAD_HOSTILE_ACCOUNTS:-500}"
CONCURRENCY="${CI_LOAD_CONCURRENCY:-50}"
PORT="$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TARGET="127.0.0.1:$PORT"
WORK="$(mktemp -d)"
LOG="$WORK/service.log"

cleanup() {
    if [[ -n "${SERVICE_PID:-}" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
        kill -TERM "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$WORK" && exec env -u COMET_PROVISIONING_DATABASE_URL \
    COMET_PROVISIONING_DATA_DIR="$WORK/data" COMET_PROVISIONING_LOG_FORMAT=json \
    "$BIN/comet-provisioning" serve --demo --listen "$TARGET" >"$LOG" 2>&1) &
SERVICE_PID=$!

# Wait for health, then find the demo product.
PRODUCT="$("$BIN/python" - "$TARGET" <<'PY'
import asyncio, sys, time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import catalog_pb2


async def main(target: str) -> str:
    async with ProvisioningClient(target) as client:
        health = health_pb2_grpc.HealthStub(client.channel)
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the demo service did not become healthy")
            await asyncio.sleep(0.2)
        products = await client.call(client.catalog.ListProducts, catalog_pb2.ListProductsRequest())
        return next(p.id for p in products.products if p.name == "Demo Backup")


print(asyncio.run(main(sys.argv[1])))
PY
)" || { echo "ci_load: demo service did not start:"; cat "$LOG"; exit 1; }

echo "ci_load: $ACCOUNTS accounts at concurrency $CONCURRENCY against $TARGET (product $PRODUCT)"
set +e
"$BIN/comet-provisioning" loadtest --target "$TARGET" --product "$PRODUCT" \
    --accounts "$ACCOUNTS" --concurrency "$CONCURRENCY" \
    --duplicate-fraction 0.1 --same-username-fraction 0.1 \
    --verify --simulator-admin --json "$@" | tee "$WORK/result.json"
STATUS=${PIPESTATUS[0]}
set -e
if [[ $STATUS -ne 0 ]]; then
    echo "ci_load: FAILED (exit $STATUS); service log tail:"
    tail -n 50 "$LOG"
    exit "$STATUS"
fi
cleanup
trap - EXIT

echo "ci_load: $HOSTILE_ACCOUNTS accounts against a simulator with the hostile profile"
if ! "$BIN/python" "$ROOT/tests/reliability/profile_load.py" --profile hostile \
    --accounts "$HOSTILE_ACCOUNTS" --concurrency "$CONCURRENCY"; then
    echo "ci_load: FAILED against the hostile profile"
    exit 1
fi
echo "ci_load: OK"
