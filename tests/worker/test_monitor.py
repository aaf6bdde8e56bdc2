import torch

from worker.monitor import MetricsWindow, Monitor, batch_diversity


def _record(step, score_d=0.7, score_g=0.3, diversity=0.8):
    return {"step": step, "score_d": score_d, "score_g": score_g, "diversity": diversity}


def test_a_sustained_saturated_discriminator_is_reported_once():
    monitor = Monitor(window_steps=10, sustained_steps=30)
    messages = [m for step in range(10, 100, 10) for m in monitor.check(_record(step, 0.999, 0.001))]
    assert len(messages) == 1 and "step 30" in messages[0] and "saturated" in messages[0]


def test_a_short_saturated_blip_is_not_reported_and_a_relapse_after_recovery_is():
    monitor = Monitor(window_steps=10, sustained_steps=30)
    assert not monitor.check(_record(10, 0.999, 0.001)) and not monitor.check(_record(20, 0.999, 0.001))
    assert not monitor.check(_record(30))
    for step in (40, 50, 60):
        messages = monitor.check(_record(step, 0.999, 0.001))
    assert len(messages) == 1 and "step 60" in messages[0]


def test_near_identical_samples_are_reported_as_mode_collapse():
    monitor = Monitor(window_steps=10, sustained_steps=30, collapse_after_steps=0)
    messages = [m for step in (10, 20, 30) for m in monitor.check(_record(step, diversity=0.01))]
    assert len(messages) == 1 and "mode collapse" in messages[0]


def test_an_untrained_generators_identical_samples_are_not_called_a_collapse():
    monitor = Monitor(window_steps=10, sustained_steps=30, collapse_after_steps=200)
    assert not [m for step in range(10, 210, 10) for m in monitor.check(_record(step, diversity=0.01))]
    assert monitor.check(_record(210, diversity=0.01)) == []  # counting starts after the warm-up
    assert monitor.check(_record(220, diversity=0.01)) == []
    assert "mode collapse" in monitor.check(_record(230, diversity=0.01))[0]


def test_wasserstein_records_without_scores_raise_no_saturation_warning():
    monitor = Monitor(window_steps=1, sustained_steps=1)
    assert monitor.check({"step": 1, "wasserstein": 5.0}) == []


def test_batch_diversity_is_zero_for_identical_images_and_counts_within_classes():
    same = torch.rand(1, 1, 4, 4).repeat(6, 1, 1, 1)
    assert batch_diversity(same).item() == 0
    # one image per class is diverse across the batch, collapsed within each class
    per_class = torch.cat([same[:3], same[:3] + 1])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    assert batch_diversity(per_class).item() > 0.4 and batch_diversity(per_class, labels).item() == 0


def test_metrics_window_averages_what_was_added_since_the_last_flush():
    window = MetricsWindow()
    window.add({"loss": torch.tensor(1.0)})
    window.add({"loss": torch.tensor(3.0)})
    assert window.flush() == {"loss": 2.0}
    assert window.flush() is None
