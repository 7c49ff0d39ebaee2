"""The reader each ``[[directory.sources]]`` table asks for, built and closed in one place."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager

from calsync.config import (
    CsvDirectory,
    GoogleDirectory,
    GoogleProvider,
    GraphDirectory,
    OutlookProvider,
    Settings,
)
from calsync.providers.directory.csv import CsvDirectory as CsvReader
from calsync.providers.directory.entries import DirectoryReader
from calsync.providers.directory.google import GoogleDirectoryReader
from calsync.providers.directory.graph import GraphDirectoryReader
from calsync.providers.outlook.auth import token_source
from calsync.providers.outlook.client import GraphClient
from calsync.secrets import SecretBox


def build_directories(
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    known: Collection[str] = (),
) -> dict[str, DirectoryReader]:
    """One reader per source, by its label; ``known``: the TOML's emails (for the CSV)."""

    def box() -> SecretBox:
        return SecretBox.load(settings.path(settings.secret_key_file))

    readers: dict[str, DirectoryReader] = {}
    for source in settings.directory.sources:
        provider = settings.providers[source.provider]
        if isinstance(source, CsvDirectory):
            readers[source.label] = CsvReader(source.label, settings.path(source.path), known)
        elif isinstance(source, GraphDirectory):
            assert isinstance(provider, OutlookProvider)  # the config checked it
            tokens = token_source(source.provider, provider, settings.path, box)
            client = GraphClient(source.provider, provider, tokens, sleep=sleep)
            groups = [g for scope in source.scopes for g in scope.groups]
            readers[source.label] = GraphDirectoryReader(source.label, client, groups)
        elif isinstance(source, GoogleDirectory):
            assert isinstance(provider, GoogleProvider)
            readers[source.label] = GoogleDirectoryReader(
                source.label, source, provider, settings.path, sleep=sleep
            )
    return readers


def close_directories(readers: Mapping[str, DirectoryReader]) -> None:
    for reader in readers.values():
        reader.close()


@contextmanager
def open_directories(
    settings: Settings, *, known: Collection[str] = ()
) -> Iterator[dict[str, DirectoryReader]]:
    readers = build_directories(settings, known=known)
    try:
        yield readers
    finally:
        close_directories(readers)
