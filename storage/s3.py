"""S3 connection settings from the standard AWS environment, a boto3 client and a pyarrow S3 filesystem.

Honoured variables: ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (S3-compatible servers such as MinIO
or moto), ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_SESSION_TOKEN``. Without keys both clients fall back to their default credential chains (profiles,
instance roles). Settings are read at call time, so a changed environment gives a fresh client.

Requests are retried (botocore's standard mode: exponential backoff with jitter, capped at 20 s per wait)
up to ``TALKINGFACE_S3_MAX_ATTEMPTS`` attempts in all (default 10: about a minute of outage is ridden out;
past that the call raises and the job reports the row).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions
import pyarrow.fs as pafs

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class S3Settings:
    """Where and as whom to talk to S3; ``None`` fields mean "the client's default"."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # every request, the first try included

    @classmethod
    def from_env(cls) -> S3Settings:
        """Settings from the standard AWS environment variables."""
        env = os.environ
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            max_attempts=_max_attempts(env.get("TALKINGFACE_S3_MAX_ATTEMPTS")),
        )

    def arrow_endpoint(self) -> tuple[str | None, str | None]:
        """``(endpoint_override, scheme)`` for pyarrow, derived from ``endpoint_url``."""
        if self.endpoint_url is None:
            return None, None
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"AWS endpoint URL {self.endpoint_url!r} must look like http(s)://host[:port]")
        return parts.netloc, parts.scheme


def _max_attempts(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_MAX_ATTEMPTS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TALKINGFACE_S3_MAX_ATTEMPTS must be a whole number >= 1, got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=8)
def _client(settings: S3Settings):
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token,
        region_name=settings.region,
    )
    config = botocore.config.Config(retries={"total_max_attempts": settings.max_attempts, "mode": "standard"})
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config)


def s3_client():
    """A boto3 S3 client for the current environment (cached per distinct settings; thread-safe)."""
    return _client(S3Settings.from_env())


def s3_filesystem(settings: S3Settings | None = None) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem for ``settings`` (default: the current environment)."""
    settings = settings or S3Settings.from_env()
    endpoint, scheme = settings.arrow_endpoint()
    kwargs = {}
    if settings.access_key and settings.secret_key:
        kwargs = {
            "access_key": settings.access_key,
            "secret_key": settings.secret_key,
            "session_token": settings.session_token,
        }
    return pafs.S3FileSystem(region=settings.region, endpoint_override=endpoint, scheme=scheme, **kwargs)


def is_not_found(error: botocore.exceptions.ClientError) -> bool:
    """Whether a boto3 error means "no such key/bucket"."""
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


def head_object(bucket: str, key: str) -> dict | None:
    """The ``head_object`` response for ``bucket/key``, or ``None`` if there is no such object."""
    try:
        return s3_client().head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as error:
        if is_not_found(error):
            return None
        raise
