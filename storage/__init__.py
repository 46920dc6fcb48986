"""Storage layer: URIs (local paths, file://, s3://), atomic object I/O, a download cache, pyarrow
filesystems for Ray Data, and the project's Parquet schemas and table helpers."""

from storage.cache import default_cache_dir, download_to_cache
from storage.filesystem import arrow_filesystem
from storage.objects import (
    UploadConfig,
    atomic_output,
    delete,
    exists,
    list_uris,
    put_file_atomic,
    put_fileobj_atomic,
    read_bytes,
    read_metadata,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from storage.redact import install_log_redaction, redact, redact_value
from storage.s3 import S3Settings, s3_client, s3_filesystem
from storage.schemas import (
    BETAS_SCHEMA,
    CLIPS_SCHEMA,
    ERRORS_SCHEMA,
    HEAD_PAIRS_SCHEMA,
    RENDER_MANIFEST_SCHEMA,
    RENDER_RESULTS_SCHEMA,
    SAMPLES_PER_FRAME,
    SCHEMAS,
    check_schema,
    validate_betas_table,
)
from storage.tables import from_table, read_table, redact_table, to_table, write_table_atomic
from storage.uri import (
    InvalidUriError,
    Location,
    UnsafeKeyError,
    UnsupportedSchemeError,
    join,
    parse_uri,
    safe_output_key,
)

__all__ = [
    "BETAS_SCHEMA",
    "CLIPS_SCHEMA",
    "ERRORS_SCHEMA",
    "HEAD_PAIRS_SCHEMA",
    "RENDER_MANIFEST_SCHEMA",
    "RENDER_RESULTS_SCHEMA",
    "SAMPLES_PER_FRAME",
    "SCHEMAS",
    "InvalidUriError",
    "Location",
    "S3Settings",
    "UnsafeKeyError",
    "UnsupportedSchemeError",
    "UploadConfig",
    "arrow_filesystem",
    "atomic_output",
    "check_schema",
    "default_cache_dir",
    "delete",
    "download_to_cache",
    "exists",
    "from_table",
    "install_log_redaction",
    "join",
    "list_uris",
    "parse_uri",
    "put_file_atomic",
    "put_fileobj_atomic",
    "read_bytes",
    "read_metadata",
    "read_table",
    "redact",
    "redact_table",
    "redact_value",
    "s3_client",
    "s3_filesystem",
    "safe_output_key",
    "to_table",
    "validate_betas_table",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_table_atomic",
    "write_text_atomic",
]
