"""F2's webhook receiver: records each delivery's `webhook-id` and arrival, fails some on purpose.

A Starlette app on uvicorn in a process of its own, pinned to the client core
(`python -m bench.receiver --port P`), so that what it costs is not the
server's. `POST /hooks/{n}` is endpoint n. `POST /reset?fail=1` forgets all
and, with fail=1, answers 500 to the first attempt of every second new
`webhook-id` (by arrival), and 200 to every later attempt of it. `GET
/received` answers every attempt so far as [webhook-id, endpoint, arrival
(Unix seconds), the event's `timestamp` from the body, status]. It does not
verify signatures: the worker's signing is tested in tests/integrations, and
the receiver must not be what limits the rate.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Receiver:
    def __init__(self) -> None:
        self.fail = False
        self.attempts: list[tuple[str, str, float, str, int]] = []
        self.seen: set[str] = set()

    async def hook(self, request: Request) -> Response:
        arrived = time.time()  # before the body is read: the delivery is here
        webhook_id = request.headers.get("webhook-id", "")
        body: dict[str, Any] = orjson.loads(await request.body())
        status = 200
        if webhook_id not in self.seen:
            self.seen.add(webhook_id)
            if self.fail and len(self.seen) % 2 == 0:
                status = 500
        self.attempts.append(
            (webhook_id, request.path_params["n"], arrived, str(body.get("timestamp")), status)
        )
        return Response(status_code=status)

    async def reset(self, request: Request) -> Response:
        self.fail = request.query_params.get("fail") == "1"
        self.attempts, self.seen = [], set()
        return Response(status_code=204)

    async def received(self, request: Request) -> Response:
        return Response(orjson.dumps(self.attempts), media_type="application/json")


def create_app() -> Starlette:
    receiver = Receiver()

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/hooks/{n}", receiver.hook, methods=["POST"]),
            Route("/reset", receiver.reset, methods=["POST"]),
            Route("/received", receiver.received, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    uvicorn.run(
        create_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
