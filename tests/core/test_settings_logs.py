"""Settings fail naming the variable; logs are Cloud Logging JSON lines and never carry secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.common import AgentSettings
from spotrun import logs
from spotrun.cli import main as cli_main
from spotrun.config import SettingsError, load_settings
from spotrun.metrics import JOB_BUCKETS


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_DEMO_")
    api_key: SecretStr
    workers: int = 2


def test_missing_secret_names_the_variable(monkeypatch):
    monkeypatch.delenv("SPOTRUN_DEMO_API_KEY", raising=False)
    with pytest.raises(SettingsError, match="SPOTRUN_DEMO_API_KEY"):
        load_settings(DemoSettings)


def test_wrong_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("SPOTRUN_DEMO_API_KEY", "k" * 10)
    monkeypatch.setenv("SPOTRUN_DEMO_WORKERS", "many")
    with pytest.raises(SettingsError, match="SPOTRUN_DEMO_WORKERS"):
        load_settings(DemoSettings)


def test_agent_port_comes_from_cloud_runs_PORT(monkeypatch):
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("SPOTRUN_AGENT_AUTH", "none")
    assert load_settings(AgentSettings).port == 9123


def test_agent_refuses_google_auth_without_audience(monkeypatch, capsys):
    monkeypatch.delenv("SPOTRUN_AGENT_AUTH", raising=False)
    monkeypatch.delenv("SPOTRUN_AGENT_AUDIENCE", raising=False)
    with pytest.raises(SettingsError, match="SPOTRUN_AGENT_AUDIENCE"):
        load_settings(AgentSettings)


def test_cli_reports_settings_errors_without_traceback(monkeypatch, capsys):
    monkeypatch.setenv("SPOTRUN_AGENT_AUTH", "google")
    monkeypatch.delenv("SPOTRUN_AGENT_AUDIENCE", raising=False)
    monkeypatch.setenv("SPOTRUN_AGENT_PORT", "not-a-port")
    with pytest.raises(SystemExit) as exited:  # the agent's startup exits itself, like `python -m`
        cli_main(["agent", "audio-video"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "SPOTRUN_AGENT_PORT" in err and "Traceback" not in err


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", project="p1", stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_in_cloud_logging_shape(json_logs):
    with structlog.contextvars.bound_contextvars(trace_id="a" * 32, span_id="b" * 16):
        logs.get_logger("t").warning("disk almost full", free_mb=12)
    logging.getLogger("discord.client").error("stdlib line %s", 7)
    first, second = _lines(json_logs)
    assert first["severity"] == "WARNING" and first["message"] == "disk almost full"
    assert first["logging.googleapis.com/trace"] == f"projects/p1/traces/{'a' * 32}"
    assert first["logging.googleapis.com/spanId"] == "b" * 16 and first["free_mb"] == 12
    assert second["severity"] == "ERROR" and second["message"] == "stdlib line 7"


def test_secrets_never_reach_the_logs(json_logs, monkeypatch):
    token = "MTIz.discord-bot-token.abcdefghijklmnop"
    monkeypatch.setenv("SPOTRUN_DEMO_API_KEY", token)
    settings = load_settings(DemoSettings)
    log = logs.get_logger("t")
    log.info("settings loaded", settings=repr(settings), raw=token)
    log.info("calling", headers={"Authorization": "Bearer eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"})
    log.info("oops", api_key="sk-live-123456")
    logging.getLogger("discord.http").warning("token was %s", token)
    text = json_logs.getvalue()
    assert token not in text and "sk-live-123456" not in text and "c2lnbmF0dXJl" not in text
    assert text.count("[redacted]") >= 4


def test_console_format_when_attached_to_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    logs.configure_logging("INFO", "auto", stream=stream)
    try:
        logs.get_logger("t").info("hello console")
    finally:
        logging.getLogger().handlers.clear()
    out = stream.getvalue()
    assert "hello console" in out and not out.lstrip().startswith("{")


def test_job_buckets_span_50ms_to_10min():
    assert JOB_BUCKETS[0] == 0.05 and JOB_BUCKETS[-1] == 600
    assert list(JOB_BUCKETS) == sorted(JOB_BUCKETS)
