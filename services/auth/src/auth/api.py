"""The auth service's operator endpoints: parse, call a handler, return."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["auth"])
