"""Storage layer: URIs (local paths, file://, s3://), atomic object I/O, a download cache, pyarrow
filesystems for Ray Data, and the project's Parquet schemas and table helpers.

Submodules load on first use (PEP 562): a Ray worker process runs ``storage.redact``'s log hook at start-up
and should not pay for boto3 and pyarrow (about 0.6 s of CPU) unless it touches objects or tables.
"""

from __future__ import annotations

import importlib
import importlib.util

# eager (light; and ``storage.redact`` must stay the function, not the submodule of the same name)
from storage.redact import install_log_redaction as install_log_redaction
from storage.redact import redact as redact
from storage.redact import redact_value as redact_value

_EXPORTS = {
    "storage.cache": ("default_cache_dir", "download_to_cache"),
    "storage.filesystem": ("arrow_filesystem",),
    "storage.objects": (
        "UploadConfig",
        "atomic_output",
        "delete",
        "exists",
        "list_uris",
        "put_file_atomic",
        "put_fileobj_atomic",
        "read_bytes",
        "read_metadata",
        "write_bytes_atomic",
        "write_json_atomic",
        "write_text_atomic",
    ),
    "storage.s3": ("S3Settings", "s3_client", "s3_filesystem"),
    "storage.schemas": (
        "BETAS_SCHEMA",
        "CLIPS_SCHEMA",
        "ERRORS_SCHEMA",
        "HEAD_PAIRS_SCHEMA",
        "RENDER_MANIFEST_SCHEMA",
        "RENDER_RESULTS_SCHEMA",
        "SAMPLES_PER_FRAME",
        "SCHEMAS",
        "check_schema",
        "validate_betas_table",
    ),
    "storage.tables": ("from_table", "read_table", "redact_table", "to_table", "write_table_atomic"),
    "storage.uri": (
        "InvalidUriError",
        "Location",
        "UnsafeKeyError",
        "UnsupportedSchemeError",
        "join",
        "parse_uri",
        "safe_output_key",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_MODULE_OF, "install_log_redaction", "redact", "redact_value"])


def __getattr__(name: str):
    """An exported name, imported from its submodule on first use; or a submodule (``storage.uri``)."""
    module = _MODULE_OF.get(name)
    if module is None:
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return importlib.import_module(f"{__name__}.{name}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
