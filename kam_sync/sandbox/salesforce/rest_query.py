"""The `query` and `queryAll` resources: SOQL, paging by `nextRecordsUrl`, cursors.

A query runs once; its matching records are kept in a cursor (a query locator) and served
page by page. The page size comes from `Sforce-Query-Options: batchSize=N` (200..2000,
default 2000, per the REST API's Query Options header). Salesforce keeps a limited number
of open cursors per user and drops the oldest; so does the sandbox.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from kam_sync.sandbox.salesforce.errors import sf_fail
from kam_sync.sandbox.salesforce.ids import KEY_PREFIXES
from kam_sync.sandbox.salesforce.projection import Renderer, compile_renderer
from kam_sync.sandbox.salesforce.query import CompiledQuery, QueryCompiler
from kam_sync.sandbox.salesforce.query_exec import ChildIndex, SortedViews, child_blocks, run_query
from kam_sync.sandbox.salesforce.soql import SoqlError, parse_soql
from kam_sync.sandbox.salesforce.store import Record, SalesforceStore
from kam_sync.sandbox.server import Request, Response, encode_json

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_BATCH_SIZE = 2000
MAX_OPEN_CURSORS = 50
# Guess: how many child records a subquery returns inline before its own nextRecordsUrl.
# Salesforce documents that large child sets are paged ("Understanding Query Results") but not
# the size; 200 (the smallest query batch) is what clients report seeing.
CHILD_BATCH_SIZE = 200
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(slots=True)
class Cursor:
    compiled: CompiledQuery
    records: list[Record]
    position: int
    batch_size: int
    resource: str  # query | queryAll
    renderer: Renderer


class QueryService:
    """Runs queries and serves their pages."""

    def __init__(
        self,
        store: SalesforceStore,
        *,
        count_read: Callable[[int], None],
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.store = store
        self.compiler = QueryCompiler(
            store, today=today or (lambda: dt.datetime.now(dt.UTC).date())
        )
        self.views = SortedViews(store)
        self.children = ChildIndex(store)
        self._count_read = count_read
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self.child_batch_size = CHILD_BATCH_SIZE  # tests may lower it

    def query(self, request: Request, *, include_deleted: bool, tooling: bool = False) -> Response:
        """`GET query/?q=` and `GET queryAll/?q=` (and the Tooling API's `query/`)."""
        text = request.query_one("q")
        if text is None:
            raise sf_fail(400, "MALFORMED_QUERY", "A query string must be provided.")
        try:
            compiled = self.compiler.compile(parse_soql(text), tooling=tooling)
        except SoqlError as exc:
            raise sf_fail(400, exc.code, exc.message) from None
        with self.store.lock:
            records = run_query(compiled, self.views, include_deleted=include_deleted)
        if compiled.count_only:
            body = {"totalSize": len(records), "done": True, "records": []}
            return Response(200, encode_json(body))
        base_path = f"/services/data/v{request.params.get('version', '59.0')}/"
        blocks = []
        for child in compiled.children:
            render_child = compile_renderer(child.compiled.projection, self.store, base_path, False)
            resource = "queryAll" if include_deleted else "query"
            open_cursor = partial(
                self._child_cursor, (child.compiled, render_child, resource, base_path)
            )
            with self.store.lock:  # grouping iterates the child table
                block = child_blocks(
                    child,
                    self.children,
                    render_child,
                    include_deleted=include_deleted,
                    batch_size=self.child_batch_size,
                    open_cursor=open_cursor,
                )
            blocks.append((child.relationship, block))
        cursor = Cursor(
            compiled,
            records,
            0,
            _batch_size(request.header("Sforce-Query-Options")),
            "queryAll" if include_deleted else "query",
            compile_renderer(compiled.projection, self.store, base_path, tooling, blocks),
        )
        return self._page(request, cursor, tooling=tooling)

    def _open(self, cursor: Cursor) -> str:
        locator = KEY_PREFIXES["QueryLocator"] + secrets.token_hex(8)[:15]
        with self._lock:
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    def _child_cursor(
        self, child: tuple[CompiledQuery, Renderer, str, str], records: list[Record], served: int
    ) -> str:
        """A cursor over one parent's child records past the first ``served``; its URL.

        ``child`` is (the subquery, its renderer, ``query`` or ``queryAll``, the base path).
        """
        compiled, render, resource, base_path = child
        cursor = Cursor(compiled, records, served, self.child_batch_size, resource, render)
        return f"{base_path}{resource}/{self._open(cursor)}-{served}"

    def more(self, request: Request, locator: str, *, tooling: bool = False) -> Response:
        """`GET query/{locator}-{position}`: the next page of an open cursor."""
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None:
            raise sf_fail(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(request, cursor, tooling=tooling, locator=locator)

    def _page(
        self, request: Request, cursor: Cursor, *, tooling: bool, locator: str | None = None
    ) -> Response:
        version = request.params.get("version", "59.0")
        base_path = f"/services/data/v{version}/"
        start = cursor.position
        if locator is not None:
            position = request.params.get("position")
            start = int(position) if position is not None else cursor.position
        end = min(start + cursor.batch_size, len(cursor.records))
        render = cursor.renderer
        page = [render(r) for r in cursor.records[start:end]]
        done = end >= len(cursor.records)
        body: dict[str, Any] = {"totalSize": len(cursor.records), "done": done}
        if not done:
            if locator is None:
                locator = self._open(cursor)
            cursor.position = end
            prefix = "tooling/" if tooling else ""
            body["nextRecordsUrl"] = f"{base_path}{prefix}{cursor.resource}/{locator}-{end}"
        elif locator is not None:
            with self._lock:
                self._cursors.pop(locator, None)
        body["records"] = page
        self._count_read(len(page))
        return Response(200, encode_json(body))


def _batch_size(header: str | None) -> int:
    if not header:
        return DEFAULT_BATCH_SIZE
    match = _BATCH_SIZE.search(header)
    if match is None:
        return DEFAULT_BATCH_SIZE
    # Salesforce treats the size as a preference and keeps it within its documented range.
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, int(match.group(1))))
