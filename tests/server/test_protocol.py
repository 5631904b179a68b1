"""The model-name syntax `[STRATEGY[@BUDGET]/]MODEL`, read exactly."""

import pytest

from ponder.errors import InvalidArgumentError
from ponder.server.protocol import Route, parse_model


@pytest.mark.parametrize("name, route", [
    ("ponder-arith", Route(model="ponder-arith")),
    ("vote@8/ponder-arith", Route(strategy="vote", budget=8, model="ponder-arith")),
    ("deepconf/ponder-arith", Route(strategy="deepconf", budget=1, model="ponder-arith")),
    ("adaptive-vote@32/models/my-model", Route(strategy="adaptive-vote", budget=32, model="models/my-model")),
    ("models/my-model", Route(model="models/my-model")),  # a first part that is no strategy: the model's folder
    ("org/vote-model", Route(model="org/vote-model")),
])
def test_a_model_name_reads_as_its_strategy_budget_and_model(name, route):
    assert parse_model(name) == route


def test_a_plain_model_has_no_strategy():
    assert parse_model("ponder-arith").strategy is None


@pytest.mark.parametrize("name, message", [
    ("nope@4/ponder-arith", "unknown strategy 'nope'"),
    ("vote@0/ponder-arith", "budget '0'"),
    ("vote@x/ponder-arith", "budget 'x'"),
    ("vote@-2/ponder-arith", "budget '-2'"),
])
def test_a_malformed_route_is_an_error_naming_it(name, message):
    with pytest.raises(InvalidArgumentError, match=message):
        parse_model(name)


def test_reference_is_not_a_route():
    assert parse_model("reference/ponder-arith") == Route(model="reference/ponder-arith")
