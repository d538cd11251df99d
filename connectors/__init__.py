"""Connectors: sources of social posts published to ``posts.raw`` with one shared Kafka producer.

A source is a small class (:class:`~ascolto.connectors.base.Source`) that yields RawPosts;
``ascolto connect NAME`` runs it through :func:`~ascolto.connectors.base.publish_all`.
"""

from ascolto.connectors.base import PublishReport, Rejected, Source, publish_all

__all__ = ["PublishReport", "Rejected", "Source", "publish_all"]
