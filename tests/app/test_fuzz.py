"""Schema-driven fuzzing of the whole API over real HTTP (bench/fuzz.py runs many more cases)."""

from bench.fuzz import fuzz


def test_no_generated_request_gets_a_500_and_every_4xx_names_the_problem(live):
    report = fuzz(str(live.base_url).rstrip("/"), examples=5, redis_up=True)
    assert report["cases"] >= 80
    assert report["failures"] == [], report["failures"][:5]
    assert {"POST /generate", "POST /train", "DELETE /train/{job_id}"} <= set(report["operations"])
