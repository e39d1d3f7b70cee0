"""``--max-recorded-requests``: benchmarks keep more of the request log than the default."""

from __future__ import annotations

import argparse

import pytest

from modelarts_emulator.cli import config_from_args, configure_parser
from modelarts_emulator.config import EmulatorConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(list(argv))


def test_default_and_raised_limit() -> None:
    assert config_from_args(parse()).max_recorded_requests == EmulatorConfig.max_recorded_requests
    assert config_from_args(parse("--max-recorded-requests", "200000")).max_recorded_requests == 200_000


def test_limit_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        config_from_args(parse("--max-recorded-requests", "0"))
