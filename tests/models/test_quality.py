from models import quality

BASE = {"extractor": "fmnist-cnn-v1", "reference": "fashion-mnist test split", "n": 2000}


def m(**fields):
    return {**BASE, **fields}


def test_healthy_samples_raise_no_flag():
    assert quality.flags(m(fd=10.0, coverage=0.8, class_kl=0.01), m(class_kl=0.02)) == []


def test_nan_constant_and_collapsed_samples_are_flagged():
    assert quality.flags(m(nan=True), None) == ["samples hold NaN or infinity"]
    assert quality.flags(m(constant=True, coverage=0.8), None) == ["every sample is the same image"]
    assert "collapsed" in quality.flags(m(coverage=0.01), None)[0]


def test_a_class_kl_far_above_the_previous_versions_is_flagged():
    assert "classes are being dropped" in quality.flags(m(coverage=0.7, class_kl=0.9), m(class_kl=0.05))[0]
    assert quality.flags(m(coverage=0.7, class_kl=0.1), m(class_kl=0.05)) == []


def test_best_moves_only_beyond_the_noise():
    incumbent = m(fd=10.0, fd_noise=1.0)
    assert not quality.improves(m(fd=9.5, fd_noise=1.0), incumbent)
    assert quality.improves(m(fd=8.5, fd_noise=1.0), incumbent)


def test_the_first_scored_checkpoint_becomes_best():
    assert quality.improves(m(fd=50.0, fd_noise=1.0), None)


def test_flagged_or_unscored_checkpoints_never_become_best():
    assert not quality.improves(m(fd=1.0, fd_noise=0.1, flags=["every sample is the same image"]), m(fd=10.0))
    assert not quality.improves(m(error="boom"), None)


def test_figures_of_different_extractors_are_not_compared():
    other = {**m(fd=1.0, fd_noise=0.1), "extractor": "random-conv-seed0-v1-c1"}
    assert not quality.improves(other, m(fd=10.0, fd_noise=0.1))
