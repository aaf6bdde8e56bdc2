from models.notifications import VersionLanded

import pytest


def test_a_notification_survives_the_round_trip_with_its_version_normalised():
    landed = VersionLanded.decode(VersionLanded("my-gan", "000007").encode())
    assert landed == VersionLanded("my-gan", "000007")
    assert VersionLanded.decode(b'{"model": "m", "version": "7"}').version == "000007"


@pytest.mark.parametrize("data", [b"", b"[]", b"{}", b'{"model": "m"}', b'{"model": "../x", "version": "1"}',
                                  b'{"model": "m", "version": "latest"}', b'{"model": 1, "version": "1"}'])
def test_anything_else_on_the_channel_is_refused(data):
    with pytest.raises(ValueError):
        VersionLanded.decode(data)
