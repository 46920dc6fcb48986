"""Job options (jobs/options.py) through the extraction job's real parser: ``--config FILE`` (YAML or JSON),
flags overriding it, and configuration problems stopping before any work with one message naming the field
and where its value came from. Only ``parse_args`` runs; no job does."""

from __future__ import annotations

import json
import re

import pytest

from jobs.extract import parse_args
from jobs.options import config_dict

REQUIRED = ["--corpus", "c", "--out", "o"]


def _error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.split("talkingface extract: error: ", 1)[1]


def test_yaml_config_file_with_dash_and_underscore_keys(tmp_path):
    path = tmp_path / "extract.yaml"
    path.write_text(
        "corpus: s3://bucket/cremad\nout: s3://bucket/features\nnum-gpus-per-actor: 0.5\nconcurrency: 4\n"
    )
    config = parse_args(["--config", str(path)])
    assert (config.corpus, config.out) == ("s3://bucket/cremad", "s3://bucket/features")
    assert (config.num_gpus_per_actor, config.concurrency) == (0.5, 4)
    assert config.landmark_stride == 1 and config.dataset == "auto"  # dataclass defaults for the rest


def test_json_config_file(tmp_path):
    path = tmp_path / "extract.json"
    path.write_text(json.dumps({"corpus": "c", "out": "o", "retry_errors": True, "batch_size": 8}))
    config = parse_args(["--config", str(path)])
    assert config.retry_errors is True and config.batch_size == 8
    assert config_dict(config)["batch_size"] == 8


def test_flags_override_the_file_which_overrides_defaults(tmp_path):
    path = tmp_path / "extract.yaml"
    path.write_text("corpus: from-file\nout: o\nconcurrency: 3\nlandmark_stride: 2\n")
    config = parse_args(["--config", str(path), "--concurrency", "5", "--corpus", "from-flag"])
    assert (config.corpus, config.concurrency, config.landmark_stride) == ("from-flag", 5, 2)
    assert config.min_face_ratio == 0.5  # in neither: the dataclass default


def test_unknown_field_is_named_with_its_source(tmp_path, capsys):
    path = tmp_path / "extract.yaml"
    path.write_text("corpus: c\nout: o\nconcurency: 2\n")
    message = _error(capsys, ["--config", str(path)])
    assert f"unknown option(s) 'concurency' (from --config {path})" in message
    assert "concurrency" in message.split("known:")[1]  # the list of known fields helps spot the typo


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("bad.yaml", "corpus: c\nout: o\nconcurrency: many\n", "concurrency"),
        ("bad.json", '{"corpus": "c", "out": "o", "retry_errors": "maybe"}', "retry_errors"),
        ("bad.yml", "corpus: [a, b]\nout: o\n", "corpus"),
    ],
)
def test_bad_type_names_field_and_source(tmp_path, capsys, name, text, field):
    path = tmp_path / name
    path.write_text(text)
    message = _error(capsys, ["--config", str(path)])
    assert message.startswith("invalid configuration:")
    assert f"{field} (from --config {path}):" in message


def test_bad_type_on_the_command_line_names_the_flag(capsys):
    message = _error(capsys, [*REQUIRED, "--concurrency", "x"])
    assert "argument --concurrency: invalid int value: 'x'" in message


def test_bad_value_from_a_flag_names_the_flag_source(tmp_path, capsys):
    path = tmp_path / "extract.yaml"
    path.write_text("corpus: c\nout: o\n")
    message = _error(capsys, ["--config", str(path), "--concurrency", "0"])
    assert "--concurrency must be >= 1, got 0" in message
    message = _error(capsys, ["--config", str(path), "--dataset", "cremad", "--limit", "1.5"])
    assert "argument --limit: invalid int value" in message


def test_missing_required_field_says_how_to_give_it(capsys):
    message = _error(capsys, ["--out", "o"])
    assert "corpus: Field required (give --corpus or 'corpus' in --config)" in message
    assert "out" not in message.split("invalid configuration:")[1]  # only the missing one is named


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("corpus: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping of options, got list"),
    ],
)
def test_unusable_config_files(tmp_path, capsys, text, expected):
    path = tmp_path / "extract.yaml"
    path.write_text(text)
    assert f"--config {path}: {expected}" in _error(capsys, ["--config", str(path)])
    assert "cannot read it" in _error(capsys, ["--config", str(tmp_path / "missing.yaml")])


def test_help_lists_every_flag_with_its_default_or_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    options = text.split("options:", 1)[1]
    assert "--config FILE" in options
    assert "--out OUT output root: local dir, file:// or s3:// URI (required)" in options
    for flag, default in [("--concurrency", "1"), ("--min-face-ratio", "0.5"), ("--weights", "None")]:
        own_help = r"(?:(?! --[a-z-]+ [A-Z{]).)*?"  # the flag's own text: up to the next flag's METAVAR
        assert re.search(rf"{flag} [A-Z_]+ {own_help}\(default: {re.escape(default)}\)", options), flag
