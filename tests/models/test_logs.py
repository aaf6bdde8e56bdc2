"""Log lines: readable text in development, one JSON object per line in production, with the context fields."""

import json
import logging

import pytest

from models.logs import configure_logging, request_id


@pytest.fixture
def log_to(capsys):
    installed = []

    def install(fmt: str):
        installed.append(configure_logging(fmt))
        return capsys

    yield install
    for handler in installed:
        logging.getLogger().removeHandler(handler)


def test_text_lines_name_the_request_model_and_version_when_known(log_to):
    capsys = log_to("text")
    token = request_id.set("req-1")
    try:
        logging.getLogger("t").info("loaded", extra={"model": "m", "version": "000002"})
    finally:
        request_id.reset(token)
    logging.getLogger("t").info("plain")
    first, second = capsys.readouterr().err.splitlines()[-2:]
    assert first.endswith("INFO t [request_id=req-1 model=m version=000002]: loaded")
    assert second.endswith("INFO t: plain")


def test_json_lines_are_objects_with_the_context_fields(log_to):
    capsys = log_to("json")
    logging.getLogger("t").warning("swap %s", "done", extra={"model": "m", "version": "000003"})
    line = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert line["message"] == "swap done" and line["level"] == "WARNING" and line["logger"] == "t"
    assert line["model"] == "m" and line["version"] == "000003" and line["request_id"] is None
    assert line["time"].endswith("+00:00")


def test_an_unknown_format_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid: json, text"):
        configure_logging("yaml")
