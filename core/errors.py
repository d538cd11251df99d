"""Errors a user can hit. Each carries one sentence that says what to do; the CLI prints it, not a traceback."""


class AscoltoError(Exception):
    """Root of every error ascolto reports to a user."""


class ConfigError(AscoltoError):
    """A setting is missing or invalid."""


class StackError(AscoltoError):
    """The local embedded stack cannot be provisioned, started or stopped."""


class KafkaUnavailable(AscoltoError):
    """Kafka cannot be reached or refused a request."""


class ElasticsearchUnavailable(AscoltoError):
    """Elasticsearch cannot be reached or refused a request."""


class DeliveryError(AscoltoError):
    """Kafka did not acknowledge some records a connector produced."""
