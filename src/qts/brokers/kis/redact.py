"""KIS's use of the shared secret redaction (:mod:`qts.brokers.redact`)."""

from qts.brokers.redact import (
    SECRETS,
    RedactingFilter,
    install,
    logger,
    redact,
    register_secrets,
)

__all__ = ["SECRETS", "RedactingFilter", "install", "logger", "redact", "register_secrets"]
