"""The one pagination contract of every list: cursor `after` + `limit` in, `next` out.

A list route takes `page: PageQuery` and answers `Page[Item]`. The repository reads
`limit + 1` rows ordered by the cursor's key, strictly after `after`; `page_of` keeps `limit`
of them and sets `next` to the last one's cursor only when more exist, so a client pages with
`?after=<next>` until `next` is null. Cursors are opaque strings to the client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
MAX_CURSOR_LENGTH = 512


class Page(BaseModel, Generic[T]):
    items: list[T]
    # The cursor of the next page (`?after=<next>`), or None on the last page.
    next: str | None = None


@dataclass(frozen=True)
class PageRequest:
    after: str | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def fetch(self) -> int:
        """Rows to read: one more than the page, to know whether another page follows."""
        return self.limit + 1


def page_request(
    after: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="The `next` of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> PageRequest:
    return PageRequest(after, limit)


PageQuery = Annotated[PageRequest, Depends(page_request)]


def page_of(rows: Sequence[T], request: PageRequest, cursor: Callable[[T], str]) -> Page[T]:
    """`rows`: up to `request.fetch` rows, in cursor order, after `request.after`."""
    items = list(rows[: request.limit])
    more = len(rows) > request.limit
    return Page[T](items=items, next=cursor(items[-1]) if more and items else None)
