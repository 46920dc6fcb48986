"""Mask credentials in text before it is logged or written (run logs, error reasons, results tables).

:func:`redact` masks, in any string: AWS secret keys, session tokens and access key ids (as ``NAME=value``,
``"name": "value"`` or bare ``AKIA...`` ids), ``RAY_AUTH_TOKEN`` values, ``Authorization: Bearer``/``Basic``
values, SigV4 ``Credential=``/``Signature=`` parts and presigned-URL ``X-Amz-*`` parameters, URL userinfo
(``https://user:pass@host`` -> ``https://***@host``), and the literal values of the secret environment
variables of this process. :func:`install_log_redaction` applies it to every log record of the process.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

MASK = "***"
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "RAY_AUTH_TOKEN")
_MIN_LITERAL = 12  # shorter env values ("testing" for moto) are too likely to be ordinary words

_SECRET_NAMES = (
    r"aws_secret_access_key|aws_session_token|aws_security_token|ray_auth_token|secret_?access_?key"
    r"|session_?token|secret_?key|password|passwd|auth_?token|access_?token|api_?key"
)
_SIGNED = "credential=|signature=|x-amz-credential=|x-amz-signature=|x-amz-security-token="
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # NAME=value, NAME: value, "name": "value", name='value' (keys in any case; quotes kept)
    (
        re.compile(rf"(?i)\b({_SECRET_NAMES})\b(\"|')?(\s*[:=]\s*)(\"|')?[^\s\"',;&}}\]]+"),
        rf"\1\2\3\4{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), rf"\1\2{MASK}"),
    (re.compile(rf"(?i)\b({_SIGNED})[^\s,&\"']+"), rf"\1{MASK}"),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MASK),
    # URL userinfo: user:password@ (the password may hold '/' or ':') or a bare token@
    (re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)(?:[^\s@/:]*:[^\s@]*|[^\s@/:]+)@"), rf"\1{MASK}@"),
]


def redact(text: str) -> str:
    """``text`` with every credential it contains masked (see module doc)."""
    if not isinstance(text, str) or not text:
        return text
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= _MIN_LITERAL and value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string inside dicts, lists and tuples (keys too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def _redacting_factory(previous):
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler's usual error report
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    return factory


def install_log_redaction() -> None:
    """Redact every log record created from now on in this process (all loggers and handlers); idempotent.

    Jobs call it first thing; Ray workers get it through ``runtime_env={"worker_process_setup_hook":
    "storage.redact.install_log_redaction"}``.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))
