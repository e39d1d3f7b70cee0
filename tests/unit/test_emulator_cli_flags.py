"""The emulator's fidelity flags reach its configuration, and a non-loopback --host needs --allow-remote."""

from __future__ import annotations

import argparse

import pytest

from modelarts_emulator.cli import check_bind_host, config_from_args, configure_parser
from modelarts_emulator.config import Behaviour, Gateway


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_todays_cloud_without_lockout_or_throttling() -> None:
    config = config_from_args(parse())
    assert config.behaviour == Behaviour()
    assert config.behaviour.resources_shape == "list" and config.behaviour.second_delete == "ok"
    assert config.gateway == Gateway(lockout_after=0, lockout_seconds=300, rate_limit_per_minute=0)


def test_every_fidelity_flag() -> None:
    config = config_from_args(
        parse(
            "--visibility-delay-seconds",
            "10",
            "--second-delete",
            "error",
            "--resources-shape",
            "object",
            "--lockout-after",
            "5",
            "--lockout-seconds",
            "2.5",
            "--rate-limit-per-minute",
            "120",
        )
    )
    assert config.behaviour.visibility_delay_seconds == 10
    assert config.behaviour.second_delete == "error" and config.behaviour.resources_shape == "object"
    assert config.gateway == Gateway(lockout_after=5, lockout_seconds=2.5, rate_limit_per_minute=120)


@pytest.mark.parametrize(
    "argv",
    [
        ("--visibility-delay-seconds", "-1"),
        ("--lockout-after", "-1"),
        ("--lockout-seconds", "-1"),
        ("--rate-limit-per-minute", "-5"),
    ],
)
def test_negative_values_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        config_from_args(parse(*argv))


@pytest.mark.parametrize("argv", [("--second-delete", "maybe"), ("--resources-shape", "dict")])
def test_unknown_choices_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_nothing(host: str) -> None:
    check_bind_host(host, allow_remote=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "emulator.example.com"])  # noqa: S104
def test_other_hosts_need_allow_remote(host: str) -> None:
    with pytest.raises(SystemExit) as refused:
        check_bind_host(host, allow_remote=False)
    assert "--allow-remote" in str(refused.value)
    check_bind_host(host, allow_remote=True)
