"""Job options: ``--config FILE`` (YAML or JSON) plus command-line overrides -> one validated config.

Every job declares its knobs once, as a dataclass; its argparse flags carry no defaults of their own
(``argparse.SUPPRESS``), so a value comes from the flag if given, else the config file, else the
dataclass default. Validation goes through pydantic, and a bad value stops the job before any work
with one message naming the field and where its value came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A job configuration problem (bad file, unknown field, bad value)."""


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` whose flags default to "not given" and which takes ``--config FILE``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file of options (keys as the flags, '-' or '_'); flags given override it",
    )
    return parser


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping stored in a YAML (``.yaml``/``.yml``) or JSON file, keys normalised to ``_``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"--config {path}: cannot read it ({err.strerror or err})") from err
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(f"--config {path}: not valid {kind}: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of options, got {type(data).__name__}")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def build_config(cls: type[T], values: dict[str, Any], sources: dict[str, str] | None = None) -> T:
    """``cls(**values)`` validated by pydantic; errors name each bad field and its source."""
    sources = sources or {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        where = ", ".join(f"{k!r} ({sources.get(k, 'given')})" for k in unknown)
        raise ConfigError(f"unknown option(s) {where}; known: {', '.join(sorted(names))}")
    try:
        return pydantic.TypeAdapter(cls).validate_python(values)
    except pydantic.ValidationError as err:
        problems = []
        for e in err.errors():
            if not e["loc"]:  # a check of the whole config (__post_init__)
                problems.append(str(e["msg"]).removeprefix("Value error, "))
                continue
            field = ".".join(str(p) for p in e["loc"])
            origin = sources.get(str(e["loc"][0]), "")
            flag = "--" + field.replace("_", "-")
            hint = f" (give {flag} or {field!r} in --config)" if e["type"] == "missing" else ""
            problems.append(f"{field}{f' ({origin})' if origin else ''}: {e['msg']}{hint}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def parse_job_config(parser: argparse.ArgumentParser, cls: type[T], argv: list[str] | None) -> T:
    """Parse ``argv`` into ``cls``: dataclass defaults < ``--config FILE`` < flags given.

    A configuration problem exits with status 2 and one message (``parser.error``), before any work.
    """
    show_defaults(parser, cls)
    given = vars(parser.parse_args(argv))
    config_path = given.pop("config", None)
    try:
        values = read_config_file(config_path) if config_path else {}
        sources = {key: f"from --config {config_path}" for key in values}
        for key, value in given.items():
            values[key] = value
            sources[key] = f"from --{key.replace('_', '-')}"
        return build_config(cls, values, sources)
    except ConfigError as err:
        parser.error(str(err))
        raise  # unreachable: parser.error exits


def show_defaults(parser: argparse.ArgumentParser, cls: type) -> None:
    """Append each flag's dataclass default (or "required") to its ``--help`` text."""
    if getattr(parser, "defaults_shown", False):
        return
    parser.defaults_shown = True  # type: ignore[attr-defined]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for action in parser._actions:
        field = fields.get(action.dest)
        if field is None:
            continue
        if field.default is not dataclasses.MISSING:
            note = f"default: {field.default}"
        elif field.default_factory is not dataclasses.MISSING:
            note = f"default: {field.default_factory()}"
        else:
            note = "required"
        action.help = f"{action.help} ({note})" if action.help else f"({note})"


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a job config (for run logs and provenance)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
