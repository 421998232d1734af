"""The cloud store's one exception base and its cases."""

from __future__ import annotations

from cloud.domain.errors import Explained


class CloudStoreError(Explained):
    """Base for every error the cloud store raises; ``str(err)`` says what is wrong (in English;
    ``msgid`` and ``params`` let the HQ page say it in its reader's language)."""


class BadDatabaseUrl(CloudStoreError):
    """A database URL this store cannot open (unknown scheme, missing path)."""


class SchemaTooNew(CloudStoreError):
    """The database was written by a newer version of this code."""


class UnknownStream(CloudStoreError):
    """A downstream change addressed to a stream that does not exist."""
