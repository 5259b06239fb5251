"""Allegro's offer title limit and how a longer supplier title is shortened."""

from __future__ import annotations

ALLEGRO_TITLE_MAX = 75
# A cut that would leave less than this keeps the whole 75 characters instead (a title with
# one very long word, or a URL), rather than a stub.
MIN_KEPT = 40
TRAILING = " \t-–—,;:/|(+&"


def shorten_title(title: str, limit: int = ALLEGRO_TITLE_MAX) -> str:
    """The title cut to `limit` characters at the last word boundary.

    Whitespace runs become one space first. If the character after the cut is not a space,
    the partial last word is dropped (unless that leaves under MIN_KEPT characters); trailing
    separators (`-`, `,`, `/`, `(`, ...) are then dropped too, so no title ends mid-phrase
    with a dash or an open bracket.
    """
    text = " ".join(title.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if text[limit] != " ":
        boundary = cut.rfind(" ")
        if boundary >= MIN_KEPT:
            cut = cut[:boundary]
    return cut.rstrip(TRAILING) or cut
