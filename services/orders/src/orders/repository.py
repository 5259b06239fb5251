"""SQL of the orders service: every statement it runs, `sa.text` with named parameters, on the
connection of the unit of work it is given (see docs/service-anatomy.md). Nothing yet."""

from __future__ import annotations
