"""Recognising the retry of an `add` that failed, so that it repeats the same write.

An `add` that raises (a server went down, the process lost a tier mid-write) may have stored part
or all of its batch before failing. Its caller cannot tell, and calls again with the same
arguments. Each call is identified by a fingerprint of its scope, metadata, `infer`, `timestamp`
and of what its messages gave (roles, texts, names, and the ids, turn ids and times they brought;
never what was generated for them). A call that fails is kept under its fingerprint
(`MemoryServices.failed_adds`, services.py) with what it generated: the normalised messages
(their generated ids, turn ids and default times) and its clock reading `now`, and the
graph-tier writes that follow its vector-tier writes. The next
call with that fingerprint takes it over and writes exactly what the failed one meant to write,
so every write it repeats lands on the same ids with the same content, and nothing is stored
twice (pipeline/ingest.py says how each kind of write repeats).

A call that succeeded leaves nothing here: the same text said again later is a new statement,
with new generated ids and a new time. Kept calls live in this process only; across processes,
messages that bring their own ids (LangChain / LangGraph messages do) make the retry idempotent
(verbatim memories are named after their message, see `ingest.message_memory_ids`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..records import Scope
from .messages import NormalizedMessages


def call_fingerprint(
    scope: Scope,
    metadata: Mapping[str, Any],
    infer: bool,
    timestamp: datetime | None,
    given: NormalizedMessages,
) -> str:
    header = json.dumps(
        [scope.key(), metadata, infer, None if timestamp is None else timestamp.isoformat()], sort_keys=True
    )
    return hashlib.sha256(f"{header}\x1e{given.fingerprint}".encode()).hexdigest()
