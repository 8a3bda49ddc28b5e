"""HTTP surface of the issuance log: checkpoint, verifier key, tiles (C2SP tlog-tiles), proofs, cosignatures.

Example::

    $ curl -s http://127.0.0.1:8000/log/checkpoint
    $ curl -s http://127.0.0.1:8000/log/tile/0/000.p/12 | xxd | head
    $ curl -s 'http://127.0.0.1:8000/v1/log/proof/inclusion?licence=L0123...'

Tiles and entry bundles are immutable (a width that exists never changes), so they are served with a year's
``immutable`` cache lifetime; the checkpoint changes and is cached for one second at most.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from seal_service.api.deps import InstanceDep
from seal_service.errors import NotFound
from seal_service.instance import Instance
from seal_service.log import (
    BackgroundSequencer,
    accept_cosignatures,
    consistency_between,
    inclusion_for_licence,
    latest_checkpoint,
    log_verifiers,
)
from seal_service.log.proofs import current_size
from seal_service.log.tiles import entry_bundle, tile_bytes
from verifier.tlog import NoteError, leaf_hash, parse_tile_path

router = APIRouter(tags=["transparency log"])

IMMUTABLE = "public, max-age=31536000, immutable"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/log/checkpoint", response_class=PlainTextResponse, summary="Newest signed checkpoint (C2SP note)")
def checkpoint(instance: InstanceDep) -> Response:
    """The newest checkpoint with the log's signature and the witnesses' cosignatures."""
    return Response(
        latest_checkpoint(instance),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "public, max-age=1"},
    )


@router.get("/log/key", response_class=PlainTextResponse, summary="The log's verifier key(s), name+id+key")
def key(instance: InstanceDep) -> Response:
    """Verifier keys (``name+hexid+base64(0x01 || key)``), one a line, the signing key first."""
    with instance.sessions() as session:
        lines = [v.vkey for v in log_verifiers(session)]
    return Response("".join(line + "\n" for line in lines), media_type="text/plain; charset=utf-8")


@router.get("/log/tile/{path:path}", summary="Hash tiles and entry bundles (C2SP tlog-tiles)")
def tile(path: str, instance: InstanceDep) -> Response:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``; 404 for tiles the log does not have yet."""
    try:
        ref = parse_tile_path("tile/" + path)
    except NoteError as exc:
        raise NotFound(str(exc), field="path") from None
    with instance.sessions() as session:
        size = current_size(session)
        data = entry_bundle(session, ref, size=size) if ref.level < 0 else tile_bytes(session, ref, size=size)
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})


@router.get("/v1/log/proof/inclusion", summary="Inclusion proof of a licence's entry")
def inclusion(instance: InstanceDep, licence: Annotated[str, Query(min_length=1, max_length=40)]) -> dict[str, object]:
    """The licence's "sealed" entry, its index and the RFC 9162 inclusion proof against the returned checkpoint."""
    proof = inclusion_for_licence(instance, licence)
    return {
        "licence": proof.licence_id,
        "index": proof.index,
        "tree_size": proof.size,
        "entry": _b64(proof.entry),
        "leaf_hash": _b64(leaf_hash(proof.entry)),
        "proof": [_b64(h) for h in proof.proof],
        "checkpoint": proof.checkpoint.decode(),
    }


@router.get("/v1/log/proof/consistency", summary="Consistency proof between two tree sizes")
def consistency(
    instance: InstanceDep,
    old: Annotated[int, Query(alias="from", ge=0, le=2**62)],
    new: Annotated[int, Query(alias="to", ge=0, le=2**62)],
) -> dict[str, object]:
    """RFC 9162 consistency proof that the tree of size ``from`` is a prefix of the tree of size ``to``."""
    proof = consistency_between(instance, old, new)
    return {"from": old, "to": new, "proof": [_b64(h) for h in proof]}


@router.post("/v1/log/cosignatures", summary="A witness posts its cosignature on a checkpoint")
async def cosignatures(request: Request, instance: InstanceDep) -> dict[str, object]:
    """Body: the checkpoint note with the witness's cosignature line(s) (C2SP tlog-cosignature)."""
    body = await request.body()
    stored = await run_in_threadpool(lambda: accept_cosignatures(instance, body[:65536], at=datetime.now(UTC)))
    return {"stored": list(stored)}


def install(app: FastAPI) -> None:
    """Run the sequencer in this API process while it serves (any number of processes and nodes may)."""
    holder: dict[str, BackgroundSequencer] = {}

    def start() -> None:
        instance: Instance = app.state.instance
        if instance.settings.log_enabled:
            holder["sequencer"] = BackgroundSequencer(instance).start()

    def stop() -> None:
        sequencer = holder.pop("sequencer", None)
        if sequencer is not None:
            sequencer.stop()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop)
