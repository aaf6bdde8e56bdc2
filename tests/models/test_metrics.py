import math

import numpy as np
import pytest

from models import metrics
from models.metrics import Statistics


def test_statistics_are_the_mean_and_unbiased_covariance():
    s = metrics.statistics(np.array([[0, 0], [2, 0], [0, 2], [2, 2]], dtype=float))
    assert s.n == 4
    np.testing.assert_allclose(s.mean, [1, 1])
    np.testing.assert_allclose(s.cov, [[4 / 3, 0], [0, 4 / 3]])


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    a = Statistics(np.array([0.0, 0.0]), np.diag([1.0, 4.0]), 10)
    b = Statistics(np.array([1.0, 2.0]), np.diag([4.0, 1.0]), 10)
    # |mu|^2 = 5; traces 5 + 5; cross term 2 * (sqrt(1*4) + sqrt(4*1)) = 8
    assert metrics.frechet_distance(a, b) == pytest.approx(7.0)
    assert metrics.frechet_distance(b, a) == pytest.approx(7.0)


def test_frechet_distance_of_a_correlated_gaussian_with_itself_is_zero():
    cov = np.array([[2.0, 1.0], [1.0, 2.0]])
    s = Statistics(np.array([3.0, -1.0]), cov, 10)
    assert metrics.frechet_distance(s, s) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_shifted_means_is_their_squared_distance():
    cov = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert metrics.frechet_distance(Statistics(np.zeros(2), cov, 5),
                                    Statistics(np.array([3.0, 4.0]), cov, 5)) == pytest.approx(25.0)


def test_fd_noise_grows_like_one_over_n():
    assert metrics.fd_noise(10_000, 0.6) == pytest.approx(0.6)
    assert metrics.fd_noise(1_000, 0.6) == pytest.approx(6.0)


def test_unbiased_mmd_with_the_cubic_kernel_matches_a_hand_computation():
    x, y = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
    # k = (xy + 1)^3: within x 1, within y 1, across (1 + 1 + 1 + 27) / 4 = 7.5
    assert metrics.mmd2_unbiased(x, y) == pytest.approx(1 + 1 - 2 * 7.5)


def test_kid_shrinks_its_subsets_to_the_smaller_set_and_says_so():
    rng = np.random.default_rng(0)
    out = metrics.kid(rng.normal(size=(50, 4)), rng.normal(size=(30, 4)), subsets=5, subset_size=1000)
    assert out["subset_size"] == 30 and out["subsets"] == 5


def test_kid_separates_shifted_samples_from_matching_ones():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    same = metrics.kid(real, rng.normal(size=(400, 8)), subsets=10, subset_size=200)["mean"]
    shifted = metrics.kid(real, rng.normal(size=(400, 8)) + 1.0, subsets=10, subset_size=200)["mean"]
    assert shifted > 10 * abs(same)


def test_precision_recall_density_coverage_match_a_hand_computed_line():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # 1-NN radii: 1 each
    fake = np.array([[0.5], [10.0], [10.5]])  # 1-NN radii: 9.5, 0.5, 0.5
    out = metrics.prdc(real, fake, k_pr=1, k_dc=1)
    assert out["precision"] == pytest.approx(1 / 3)  # only 0.5 lies in a real ball
    assert out["recall"] == pytest.approx(1.0)  # the ball of 0.5 (radius 9.5) holds every real point
    assert out["density"] == pytest.approx(2 / 3)  # 0.5 sits in the balls of 0 and 1; over k * M = 3
    assert out["coverage"] == pytest.approx(0.5)  # the balls of 0 and 1 hold a fake


def test_prdc_of_a_set_against_itself_is_perfect():
    points = np.random.default_rng(1).normal(size=(40, 3))
    out = metrics.prdc(points, points)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0


def test_class_histogram_and_kl_to_uniform():
    assert metrics.class_histogram(np.array([0, 0, 1, 1]), 2).tolist() == [0.5, 0.5]
    assert metrics.kl_to_uniform(np.array([0.5, 0.5])) == pytest.approx(0.0)
    assert metrics.kl_to_uniform(metrics.class_histogram(np.array([0, 0, 0]), 2)) == pytest.approx(math.log(2))
    assert metrics.kl_to_uniform(np.array([0.75, 0.25])) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))


def test_label_accuracy_is_reported_per_requested_class():
    out = metrics.label_accuracy(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 3)
    assert out["mean"] == pytest.approx(0.75)
    assert out["per_class"] == [0.5, 1.0, None]


def test_mean_pairwise_distance_is_zero_for_one_repeated_sample_and_grows_with_spread():
    same = np.ones((50, 4))
    assert metrics.mean_pairwise_distance(same) == 0.0
    two = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert metrics.mean_pairwise_distance(two) == pytest.approx(5.0)  # never a sample against itself
    rng = np.random.default_rng(0)
    assert metrics.mean_pairwise_distance(rng.normal(size=(500, 8)) * 2) > metrics.mean_pairwise_distance(
        rng.normal(size=(500, 8)))
