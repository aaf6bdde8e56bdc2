"""Without Redis, generation keeps answering and /train answers 503."""

from tests.conftest import make_app
from tests.support import LiveServer, free_port


def test_train_is_503_and_generation_works_when_redis_is_unreachable(tiny_registry):
    app = make_app(tiny_registry, f"redis://127.0.0.1:{free_port()}/0")
    with LiveServer(app) as server, server.client() as client:
        r = client.post("/train", json={"model": "m", "dataset": {"kind": "synthetic"}})
        assert r.status_code == 503 and "Redis" in r.json()["detail"]
        assert client.get("/train/abc").status_code == 503
        assert client.post("/generate", json={"model": "bars", "seeds": [1]}).status_code == 200
        assert client.get("/readyz").json()["redis"]["reachable"] is False
