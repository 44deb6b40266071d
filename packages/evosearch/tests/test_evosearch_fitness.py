import math

import pytest

from evosearch import ConfigError, FitnessError, TradeoffFitness


def test_tradeoff_fitness_is_eq2_of_the_paper():
    fitness = TradeoffFitness(target=5e6, gamma=-0.07)
    metrics = {"val_loss": 1.2e-3, "params": 2.53e6}
    assert fitness(metrics) == pytest.approx((5e6 / 2.53e6) ** -0.07 * 1.2e-3, rel=1e-12)


def test_tradeoff_fitness_equals_the_loss_at_the_target_cost():
    assert TradeoffFitness(target=5e6)({"val_loss": 0.5, "params": 5e6}) == pytest.approx(0.5)


def test_tradeoff_fitness_with_negative_gamma_penalises_the_larger_network():
    fitness = TradeoffFitness(target=5e6, gamma=-0.07)
    small = fitness({"val_loss": 1.0, "params": 2e6})
    large = fitness({"val_loss": 1.0, "params": 8e6})
    assert small < 1.0 < large


def test_tradeoff_fitness_cost_may_be_any_metric():
    fitness = TradeoffFitness(target=1e9, gamma=-0.1, cost="flops")
    got = fitness({"val_loss": 2.0, "params": 1.0, "flops": 4e9})
    assert got == pytest.approx(4**0.1 * 2.0)


def test_tradeoff_fitness_names_the_missing_metric():
    with pytest.raises(FitnessError, match=r"'params'.*only \['val_loss'\]"):
        TradeoffFitness()({"val_loss": 1.0})


def test_tradeoff_fitness_refuses_a_cost_that_is_not_positive():
    with pytest.raises(FitnessError, match=r"positive cost"):
        TradeoffFitness()({"val_loss": 1.0, "params": 0.0})


def test_tradeoff_fitness_passes_a_nan_loss_through():
    assert math.isnan(TradeoffFitness()({"val_loss": math.nan, "params": 1e6}))


@pytest.mark.parametrize("settings", [{"target": 0.0}, {"target": -1.0}, {"gamma": math.inf}])
def test_tradeoff_fitness_refuses_bad_settings(settings):
    with pytest.raises(ConfigError):
        TradeoffFitness(**settings)
