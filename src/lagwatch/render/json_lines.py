"""Rankings as JSON Lines (the README's JSON contract), cheap enough to print every process
every second.

Most processes are idle, and the ticker hands out the same row object for an idle process
tick after tick (lagwatch.ranking's idle-row cache), with the same values: ``RankingEncoder``
keeps the text of each row from one ranking to the next and encodes again only rows that are
new or whose values changed. The output is
``json.dumps(ranking.to_json(limit) | extra, separators=(",", ":"))``, byte for byte as long as
a field keeps its JSON type (a value replaced by an equal one of another type, 0 by 0.0, keeps
the first one's text: the same number).
"""

from __future__ import annotations

import json
import operator
from typing import Any

from lagwatch.model import PROCESS_KEYS, ProcessRow, Ranking

_VALUES = operator.attrgetter(*PROCESS_KEYS)
_EMPTY = '"processes":[]'
_encode = json.JSONEncoder(separators=(",", ":")).encode


class RankingEncoder:
    def __init__(self) -> None:
        # id(row) -> (the row, its values, their text); the row is held so its id stays its own.
        self._texts: dict[int, tuple[ProcessRow, tuple, str]] = {}

    def encode(
        self, ranking: Ranking, limit: int | None = None, extra: dict[str, Any] | None = None
    ) -> str:
        """``extra``: keys to set on the ranking's own (replaced in place, new ones after)."""
        head = ranking.to_json(limit=0)  # every top-level key, processes empty
        if extra:
            head.update(extra)
        rows = ranking.processes if limit is None else ranking.processes[:limit]
        get = self._texts.get
        kept: dict[int, tuple[ProcessRow, tuple, str]] = {}
        parts = []
        for row, values in zip(rows, map(_VALUES, rows), strict=True):
            hit = get(id(row))
            if hit is None or hit[0] is not row or hit[1] != values:
                hit = (row, values, _encode(dict(zip(PROCESS_KEYS, values, strict=True))))
            kept[id(row)] = hit  # a hit is kept as it is: nothing new to track per row
            parts.append(hit[2])
        self._texts = kept  # only this ranking's rows: the cache never outgrows one ranking
        body = _encode(head)
        # JSON escapes every quote inside strings, so this text can only be the key itself.
        return body.replace(_EMPTY, '"processes":[' + ",".join(parts) + "]", 1)
