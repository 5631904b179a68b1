"""auto: a probe, its difficulty bin, and what the policy chooses for it (scripted samples, so every choice is
exact); the policy file's checks; and `fit`, the knapsack `ponder tune` solves per budget."""

import asyncio
import json

import pytest

from ponder.errors import InvalidArgumentError
from ponder.eval.tune import fit
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.strategies.auto import Policy, difficulty
from ponder.tasks import arith
from scripted import ScriptedGenerator

PROBLEM = arith.Problem(id="p", question="Mia has 3 pens.", solution="", answer=None, level=1)
POLICY = {"probe": 2, "levels": [
    {"budget": 2, "choose": {"agree": "stop", "split": "vote@3", "unanswered": "stop"}},
    {"budget": 8, "choose": {"agree": "stop", "split": "vote@5", "unanswered": "adaptive-vote@4"}}]}


def auto(script, budget, tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY))
    generator = ScriptedGenerator(script)
    config = StrategyConfig(budget=budget, options={"policy": str(path)})
    return asyncio.run(STRATEGIES["auto"](PROBLEM, generator, None, config)), generator


def test_the_probe_bins_the_question_and_the_policy_chooses_for_the_bin(tmp_path):
    agree, generator = auto(["Answer: 7", "Answer: 7"], 8, tmp_path)  # settled: the probe's vote, nothing more
    assert (agree.answer, agree.stop_reason, agree.samples) == (7, "probe", 2) and len(generator.samples) == 2
    assert agree.details == {"bin": "agree", "choice": "stop", "level": 8}
    split, generator = auto(["Answer: 7", "Answer: 8"] + ["Answer: 8"] * 5, 8, tmp_path)  # contested: vote@5
    assert split.answer == 8 and split.samples == 7 and split.details["choice"] == "vote@5"
    assert len(split.candidates) == 7 and split.tokens["generated"] == sum(len(s.script.text) for s in
                                                                          generator.samples)
    low, _ = auto(["Answer: 7", "Answer: 8"] + ["Answer: 7"] * 3, 4, tmp_path)  # budget 4: the level fitted for 2
    assert low.details == {"bin": "split", "choice": "vote@3", "level": 2} and (low.samples, low.answer) == (5, 7)
    lost, _ = auto(["no answer", "Answer: 7"] + ["Answer: 7"] * 4, 8, tmp_path)  # unanswered: adaptive-vote@4
    assert lost.details["bin"] == "unanswered" and lost.details["choice"] == "adaptive-vote@4"
    assert lost.answer == 7 and 2 < lost.samples <= 2 + 4


def test_the_bins():
    assert difficulty([7, 7]) == "agree" and difficulty(["0.5", "1/2"]) == "agree"  # equivalent answers pooled
    assert difficulty([7, 8]) == "split" and difficulty([7, None]) == "unanswered"


@pytest.mark.parametrize("policy, words", [
    ({"levels": []}, "a policy is"),
    ({"probe": 2, "levels": [{"budget": 4, "choose": {"agree": "stop"}}]}, "a choice for each of"),
    ({"probe": 2, "levels": [{"budget": 4, "choose": {"agree": "stop", "split": "best-of-n@4",
                                                     "unanswered": "stop"}}]}, "no verifier it needs"),
    ({"probe": 2, "levels": [{"budget": 4, "choose": {"agree": "stop", "split": "spec-reason@4",
                                                     "unanswered": "stop"}}]}, "no draft"),
    ({"probe": 2, "levels": [{"budget": 4, "choose": {"agree": "stop", "split": "vote@x",
                                                     "unanswered": "stop"}}]}, "'vote@x'"),
])
def test_a_bad_policy_is_one_clear_error(policy, words, tmp_path):
    with pytest.raises(InvalidArgumentError, match=words):
        Policy.parse(policy)
    path = tmp_path / "p.json"
    path.write_text("not json")
    with pytest.raises(InvalidArgumentError, match="is not JSON"):
        Policy.load(path)


def test_a_model_without_a_policy_says_how_to_get_one():
    with pytest.raises(InvalidArgumentError, match="ponder tune"):
        asyncio.run(STRATEGIES["auto"](PROBLEM, ScriptedGenerator(["Answer: 1"] * 2), None, StrategyConfig()))


def test_the_thinking_model_ships_the_policy_auto_uses_without_an_option():
    import subprocess
    import sys
    from types import SimpleNamespace

    shipped = Policy.of(SimpleNamespace(name="ponder-arith-think"))
    assert shipped.probe == 2 and [level["budget"] for level in shipped.levels] == [2, 4, 8, 16, 32]
    level = shipped.level(8)
    ran = subprocess.run([sys.executable, "-m", "ponder.cli", "solve", "--model", "ponder-arith-think", "--strategy",
                          "auto", "--budget", "8", "--seed", "1", "--json",
                          "Mia has 23 pens. She buys 15 more. How many pens does she have now?"],
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    details = json.loads(ran.stdout)["details"]
    assert details["level"] == 8 and details["choice"] == level["choose"][details["bin"]]


def test_fit_gets_the_most_right_within_each_budget():
    # 4 problems: two settled (the probe is right, 20 tokens), two contested (right only with vote@8, 100 more)
    bins = ["agree", "agree", "split", "split"]
    table = {"stop": [(True, 20), (True, 20), (False, 20), (False, 20)],
             "vote@8": [(True, 120), (True, 120), (True, 120), (True, 120)],
             "vote@2": [(True, 45), (True, 45), (False, 45), (True, 45)]}
    # one sample is 10 tokens: budget 2 = 20 tokens a problem (the probe alone); 5 = 50; 8 = 80
    levels = {level["budget"]: level for level in fit(table, bins, [2, 5, 8], 10.0)}
    assert levels[2]["choose"] == {"agree": "stop", "split": "stop", "unanswered": "stop"}
    assert levels[5]["choose"]["agree"] == "stop" and levels[5]["choose"]["split"] == "vote@2"
    assert levels[5]["accuracy"] == 0.75 and levels[5]["samples_worth"] == 3.25
    assert levels[8]["choose"]["split"] == "vote@8" and levels[8]["accuracy"] == 1.0
    assert levels[8]["samples_worth"] == 7.0  # within 8: the settled ones kept at the probe


def test_ponder_tune_writes_a_policy_auto_reads_and_refuses_what_auto_cannot_choose(tmp_path):
    import subprocess
    import sys

    def ponder(*args):
        return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True,
                              timeout=600)
    out = tmp_path / "policy.json"
    fitted = ponder("tune", "--model", "ponder-arith", "--limit", "6", "--strategy", "vote,adaptive-vote",
                    "--budget", "2,4", "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert fitted.returncode == 0, fitted.stderr
    policy = Policy.load(out)  # what auto reads
    assert [level["budget"] for level in policy.levels] == [2, 4] and policy.probe == 2
    assert json.loads(out.read_text())["fitted_on"]["problems"] == 6
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "adaptive-vote@2.json", "adaptive-vote@4.json", "probe.json", "settings.json", "vote@1-4.json"]
    more = ponder("tune", "--model", "ponder-arith", "--limit", "8", "--strategy", "vote,adaptive-vote",
                  "--budget", "2,4", "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert more.returncode == 0, more.stderr  # the cache holds 6 of the 8: only 2 run
    assert "on 2 problems" in more.stderr and "on 6 problems" not in more.stderr and "on 8" not in more.stderr
    assert len(json.loads((tmp_path / "cache" / "adaptive-vote@4.json").read_text())) == 8
    assert json.loads(out.read_text())["fitted_on"]["problems"] == 8
    ran = ponder("eval", "--task", "arith", "--seed", "9", "--limit", "4", "--strategy", "auto", "--budget", "4",
                 "--option", f"policy={out}", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["n_problems"] == 4
    for args, words in ((["--strategy", "best-of-n"], "auto cannot choose best-of-n"),
                        (["--strategy", "auto"], "auto cannot choose auto"), (["--probe", "0"], "--probe")):
        bad = ponder("tune", "--out", str(tmp_path / "x.json"), *args)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr
