"""Connectors: sources of social posts published to ``posts.raw`` with one shared Kafka producer.

A source is a small class (:class:`~connectors.base.Source`) that yields RawPosts;
``ascolto connect NAME`` runs it through :func:`~connectors.base.publish_all`.
"""

from connectors.base import PublishReport, Rejected, Source, publish_all

__all__ = ["PublishReport", "Rejected", "Source", "publish_all"]
