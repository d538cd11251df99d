"""Where a post gets its topics: the taxonomy's terms found in its text (``ASCOLTO_TAXONOMY``)."""

from __future__ import annotations

from typing import Any

from core.settings import Settings, get_settings
from streams.enrichers.base import enricher
from streams.enrichers.reloading import ReloadingFile
from streams.enrichers.taxonomy import Taxonomy, default_taxonomy_path, load_taxonomy


@enricher("topics", writes=("topics",), order=30)
class Topics:
    """Tags posts with taxonomy topics; an edited taxonomy file is picked up while running."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        path = settings.taxonomy or default_taxonomy_path()
        self.taxonomy: ReloadingFile[Taxonomy] = ReloadingFile(path, load_taxonomy, settings.reload_seconds)

    def __call__(self, post: dict[str, Any]) -> dict[str, list[str]]:
        return self.taxonomy.value.field_of(post)
