"""The catalog's own outcomes of the shared error family (shared.errors), for the statuses
HTTP has a closer word for than 422 or 503."""

from __future__ import annotations

from shared.errors import DomainError, Invalid, Unavailable


class WrongMediaType(Invalid):
    """A body declared as another format than the one asked for (415 `bad_file`)."""

    status = 415


class TooLarge(Invalid):
    """A body beyond what the route reads into memory (413 `too_large`)."""

    status = 413


class UploadFailed(DomainError):
    """The client's upload could not be read to its end (400 `upload_failed`)."""

    status = 400
    default_code = "upload_failed"


class ImportStopped(Unavailable):
    """The import stopped on our side midway (503 `import_failed`); details say how far."""

    default_code = "import_failed"
