"""The preview's door on the policy worker: `POST /preview` on its faust web server replays the change window.

Loop-level (thin): parse the ReplayRequest the admin API sends (the current policy and the candidate), read the
window from Redis, decode it and run the pure preview (preview.py) in a worker thread so that the changes agent
keeps deciding meanwhile, answer the PreviewReport. It publishes nothing and writes nothing; it reads the window and
the live security tables (for a question a recorded decision never asked). The web server listens only where the worker
is told to (`--web-bind 127.0.0.1` from main.py; compose's network); the admin API in front of it checks the admin
token. Lifecycle: served by faust's web server from worker start to stop; a request is independent of the others.
"""

from __future__ import annotations

import asyncio
import json
import logging

import faust
from faust.web import Request, Response, View
from pydantic import ValidationError

from services.policy.handler import PolicyHandler
from services.policy.preview import preview
from shared.change_window import ChangeWindow
from shared.preview import PreviewReport, ReplayRequest

PATH = "/preview"
log = logging.getLogger("fieldsync.policy")


def install(app: faust.App, handler: PolicyHandler, window: ChangeWindow) -> None:
    """Add the page to the app (served when its web server is on)."""

    async def answer(body: bytes) -> tuple[int, bytes]:
        try:
            asked = ReplayRequest.model_validate_json(body)
        except ValidationError as exc:
            return 400, json.dumps({"detail": f"invalid replay request: {exc.errors()[0]['msg']}"}).encode()
        raws, now = await window.raw(), handler.clock()
        fallback = handler.security.security  # today's tables, for questions a recorded decision never asked

        def replayed() -> PreviewReport:  # CPU only, seconds for a full window: off the event loop
            entries = window.decode(raws, now)
            return preview(entries, handler.catalogue, asked.current, asked.candidate, fallback, asked.sample_size)

        report = await asyncio.to_thread(replayed)
        log.info("policy previewed version %d against a candidate over %d recorded changes: %d differ",
                 asked.current.version, report.window.entries, report.differing)  # fmt: skip
        return 200, report.model_dump_json().encode()

    class PreviewPage(View):
        async def post(self, request: Request) -> Response:
            status, body = await answer(await request.read())
            return self.bytes(body, content_type="application/json", status=status)

    app.page(PATH)(PreviewPage)
