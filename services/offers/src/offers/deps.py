"""What the offers service's routes, handlers and worker use beyond their messages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends

from offers.settings import Settings
from shared.deps import AllegroDeps
from shared.service import dependencies_of


@dataclass(frozen=True)
class OffersDeps(AllegroDeps[Settings]):
    """Units of work, settings and the Allegro client (every offer write and read)."""

    # Category parameter definitions this process read: category -> (read at, monotonic;
    # definitions). The table `category_parameters` is the replicas' shared cache.
    category_definitions: dict[str, tuple[float, list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    # Image uploads under way in this process: (account, supplier URL) -> the upload, which
    # offers sharing the image wait for instead of uploading it again (offers/images.py).
    image_uploads: dict[tuple[str, str], asyncio.Future[Any]] = field(default_factory=dict)


Deps = Annotated[OffersDeps, Depends(dependencies_of(OffersDeps))]
