"""Rate limits shared by API replicas through Redis: two real API processes on one real redis-server; when
Redis goes away, each replica counts alone and says so."""

import pytest

from tests.support import ApiProcess, RedisServer, wait_until

pytestmark = pytest.mark.integration

LIMIT = 4
SEED_URL = "/models/bars/seeds/{}.png"


@pytest.fixture
def replicas(tiny_registry, tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    env = {"GAN_REGISTRY_DIR": str(tiny_registry), "GAN_SHIPPED_REGISTRY_DIR": str(tmp_path / "none"),
           "GAN_REDIS_URL": redis.url, "GAN_RATE_LIMIT": f"{LIMIT}/minute", "GAN_TORCH_THREADS": "1"}
    apis = [ApiProcess(env, tmp_path / f"api-{i}.log") for i in range(2)]
    try:
        for api in apis:
            api.start()
        for api in apis:
            api.wait_ready()
        with apis[0].client() as a, apis[1].client() as b:
            yield a, b, redis
    finally:
        for api in apis:
            api.__exit__()
        redis.stop()


def test_replicas_share_one_count_per_client(replicas):
    a, b, _ = replicas
    answers = [client.get(SEED_URL.format(i)).status_code for i, client in enumerate([a, b] * (LIMIT // 2))]
    assert answers == [200] * LIMIT
    refused = b.get(SEED_URL.format(99))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert a.get(SEED_URL.format(98)).status_code == 429
    assert a.get("/readyz").json()["rate_limits"]["counted"] == "in redis, across replicas"


def test_without_redis_each_replica_counts_alone_and_says_so(replicas):
    a, b, redis = replicas
    redis.stop()
    answers = [a.get(SEED_URL.format(i)).status_code for i in range(LIMIT + 1)]
    assert answers == [200] * LIMIT + [429]  # its own count, in memory
    assert b.get(SEED_URL.format(0)).status_code == 200  # the other replica's count is its own
    assert a.get("/readyz").json()["rate_limits"]["counted"] == "per replica: redis is unreachable"
    redis.start()  # same port: counted in Redis again once a request finds it answering

    def counted_in_redis_again() -> bool:
        a.get(SEED_URL.format(0))
        return a.get("/readyz").json()["rate_limits"]["counted"] == "in redis, across replicas"

    wait_until(counted_in_redis_again, 15, interval=0.5, what="the replica to count in Redis again")
