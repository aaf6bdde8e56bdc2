"""Hot swap under load, the short version of bench/hotswap.py: a real API process, 8 clients, a new valid or
broken version landing every 0.3 s for a few seconds."""

import pytest

from bench.hotswap import run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run(duration_s=6, clients=8, period_s=0.3, watch_interval_s=0.2, workdir=tmp_path_factory.mktemp("swap"))


def test_no_request_fails_while_versions_land(report):
    assert report["requests_sent"] > 100 and report["publications_per_s"] >= 1
    assert report["requests_failed"] == 0, report["failures_sample"]


def test_every_answer_comes_from_a_version_that_was_valid_and_complete(report):
    assert report["answers_from_versions_not_valid_when_served"] == 0
    assert report["broken_versions_served"] == []


def test_versions_never_go_backwards_for_a_client(report):
    assert report["per_client_versions_going_backwards"] == 0


def test_each_valid_version_is_served_within_two_seconds_of_landing(report):
    assert report["landing_to_first_answer_s"]["max"] <= 2.0, report
    assert report["valid_versions_never_served_nor_superseded_within_2s"] == []


def test_each_broken_version_is_logged_once_and_shown_invalid_with_its_reason(report):
    assert report["broken_versions"] >= 4
    assert report["broken_versions_log_counts_other_than_one"] == {}
    assert report["broken_versions_shown_invalid"] == report["broken_versions"]
    assert report["broken_versions_without_error_text"] == []
