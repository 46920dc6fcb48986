"""The ``talkingface`` console script: ``--version``, and a complete ``--help`` for every subcommand."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import logging
import subprocess
import sys

import pytest

from jobs import cli


@pytest.fixture(autouse=True)
def _restore_log_record_factory():
    """Subcommands install log redaction process-wide; give other tests the factory they had."""
    previous = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(previous)


def test_version_names_the_installed_release_and_the_commit(capsys):
    assert cli.main(["--version"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith(f"talkingface {importlib.metadata.version('talkingface')}")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout (CI, development); an installed wheel prints the number only
        assert printed.endswith(f"(git {head.stdout.strip()})")


def test_version_from_the_console_entry_point():
    done = subprocess.run([sys.executable, "-m", "jobs.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("talkingface ")


def _help(argv: list[str]) -> tuple[str, list[argparse.ArgumentParser]]:
    """What ``talkingface ARGV --help`` prints, and the parsers that printed it."""
    printed: list[argparse.ArgumentParser] = []
    real = argparse.ArgumentParser.print_help

    def recording(self, file=None):
        printed.append(self)
        real(self, file)

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(argparse.ArgumentParser, "print_help", recording)
        try:
            code = cli.main([*argv, "--help"])
        except SystemExit as exit_:
            code = exit_.code
    assert code in (0, None), f"talkingface {' '.join(argv)} --help exited {code}"
    return out.getvalue(), printed


def _check_complete(argv: list[str]) -> None:
    text, parsers = _help(argv)
    assert parsers, f"talkingface {' '.join(argv)} --help printed without argparse"
    parser = parsers[-1]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name in action.choices:
                _check_complete([*argv, name])
            continue
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            assert option in text, f"talkingface {' '.join(argv)} --help does not list {option}"
        if not action.option_strings:
            assert action.metavar or action.dest in text, f"{' '.join(argv)}: {action.dest} not listed"


def test_top_level_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--version" in text
    for name, (_, summary) in cli.SUBCOMMANDS.items():
        assert f"  {name}" in text and summary in text


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_help_exits_0_and_lists_every_flag(name):
    _check_complete([name])


def test_subcommands_run_with_log_redaction_installed():
    logging.setLogRecordFactory(logging.LogRecord)  # the autouse fixture puts the previous one back
    _help(["models"])
    assert getattr(logging.getLogRecordFactory(), "redacting", False)
