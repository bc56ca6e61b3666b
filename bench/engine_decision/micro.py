"""Protocol engine decision: CPU cost of the protocol steps alone (no I/O), per call.

    .venv/bin/python bench/engine_decision/micro.py

Compares what scim2-models does on each request of option A with the dict-level steps of
option B, on the same realistic payloads (an Okta/Entra-like user with the enterprise extension,
a 100-user page, a 1,000-member group).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent), str(_HERE.parent.parent)]

from scim2_models import Context, EnterpriseUser, Group, ListResponse, User  # noqa: E402

import handbuilt  # noqa: E402
from _harness import say, table  # noqa: E402
from _seed import user_document  # noqa: E402
from scim_server.protocol.schema import user_type  # noqa: E402


def per_call_us(fn: Callable[[], Any], budget_s: float = 0.6) -> float:
    """Median of five batches, each sized to ~budget/5 seconds."""
    fn()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.05:
        fn()
        n += 1
    batch = max(1, int(n * budget_s / 5 / 0.05))
    samples = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(batch):
            fn()
        samples.append((time.process_time() - t0) / batch * 1e6)
    return sorted(samples)[2]


def fmt(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def main() -> None:
    body = orjson.dumps(user_document(42))
    doc = orjson.loads(body)
    model = User[EnterpriseUser]
    user = model.model_validate(doc, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    user.id = str(uuid.uuid4())
    now = datetime.now(UTC)
    stored = handbuilt.validate(user_type(), doc)
    row_like = type("Row", (), {"id": user.id, "data": stored, "created": now, "last_modified": now, "version": 1})

    page_docs = []
    for n in range(100):
        d = user_document(n)
        d["id"] = str(uuid.uuid4())
        d["meta"] = {"resourceType": "User", "created": now.isoformat(), "lastModified": now.isoformat(), "location": "https://x/Users/1", "version": 'W/"1"'}
        page_docs.append(d)
    page_models = [model.model_validate(d) for d in page_docs]
    page_rows = [type("Row", (), {"id": d["id"], "data": handbuilt.validate(user_type(), user_document(i)), "created": now, "last_modified": now, "version": 1}) for i, d in enumerate(page_docs)]

    members = [{"value": str(uuid.uuid4()), "$ref": "https://x/Users/1", "type": "User", "display": f"u{i}"} for i in range(1000)]
    group_doc = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "big", "members": members}

    rows = [
        [
            "validate a POST /Users body",
            fmt(per_call_us(lambda: model.model_validate(orjson.loads(body), scim_ctx=Context.RESOURCE_CREATION_REQUEST))),
            fmt(per_call_us(lambda: handbuilt.validate(user_type(), orjson.loads(body)))),
        ],
        [
            "render one user (dump / dict + orjson)",
            fmt(per_call_us(lambda: orjson.dumps(user.model_dump(scim_ctx=Context.RESOURCE_CREATION_RESPONSE)))),
            fmt(per_call_us(lambda: orjson.dumps(handbuilt._user_doc(row_like, "https://x/scim/v2", set())))),
        ],
        [
            "load one stored user (validate from storage / none)",
            fmt(per_call_us(lambda: model.model_validate(page_docs[0]))),
            "0 µs (the row's JSON is the answer)",
        ],
        [
            "render a 100-user page",
            fmt(
                per_call_us(
                    lambda: orjson.dumps(
                        ListResponse[model](
                            total_results=100, start_index=1, items_per_page=100, resources=page_models
                        ).model_dump(scim_ctx=Context.SEARCH_RESPONSE)
                    )
                )
            ),
            fmt(per_call_us(lambda: orjson.dumps({"Resources": [handbuilt._user_doc(r, "https://x", set()) for r in page_rows]}))),
        ],
        [
            "load + render a 1,000-member group",
            fmt(per_call_us(lambda: orjson.dumps(Group.model_validate(group_doc).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)))),
            fmt(per_call_us(lambda: orjson.dumps({**group_doc, "members": [dict(m) for m in members]}))),
        ],
    ]
    say("CPU per call (median of 5 batches, time.process_time), lower is better")
    say(table(["step", "A: scim2-models", "B: dict walker / stored JSON"], rows))


if __name__ == "__main__":
    main()
