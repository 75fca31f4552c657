"""rl.config: dataclass -> flags -> dataclass, and JSON round trips."""

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from rl import schedules
from rl.config import add_dataclass_args, field_comments, from_args, from_json, to_json


@dataclass
class ToyConfig:
    """A config with one field of each supported kind."""

    # Step size of the optimizer.
    learning_rate: float = 1e-3
    batch_size: int = 32  # transitions per update
    # Use Double DQN targets.
    double: bool = True
    optimizer: Literal["adam", "rmsprop"] = "adam"
    # Units of each hidden layer.
    hidden: tuple[int, ...] = (64, 64)
    # Gradient-norm clip; none disables it.
    clip_norm: float | None = 10.0
    # Exploration rate, a schedule of the step.
    epsilon: schedules.Schedule = field(default_factory=lambda: schedules.linear(1, 0.05, 100))
    name: str = field(default="toy", metadata={"help": "A label for the run."})


def parse(argv, base=None):
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, ToyConfig)
    return from_args(ToyConfig, parser.parse_args(argv), base=base)


def test_no_flags_gives_the_defaults():
    assert parse([]) == ToyConfig()


def test_every_kind_of_flag_parses():
    cfg = parse(
        [
            "--learning-rate", "0.01", "--batch-size", "64", "--no-double", "--optimizer",
            "rmsprop", "--hidden", "128", "32", "16", "--clip-norm", "none", "--epsilon",
            '{"kind": "constant", "value": 0.1}', "--name", "x",
        ]
    )
    assert cfg == ToyConfig(
        learning_rate=0.01, batch_size=64, double=False, optimizer="rmsprop",
        hidden=(128, 32, 16), clip_norm=None, epsilon=schedules.constant(0.1), name="x",
    )
    assert isinstance(cfg.hidden, tuple)


def test_base_values_sit_between_defaults_and_flags():
    cfg = parse(["--batch-size", "8"], base={"batch_size": 128, "learning_rate": 0.5})
    assert cfg.batch_size == 8  # the flag wins over the preset
    assert cfg.learning_rate == 0.5  # the preset wins over the default
    assert cfg.hidden == (64, 64)


def test_help_comes_from_metadata_or_comments(capsys):
    comments = field_comments(ToyConfig)
    assert comments["learning_rate"] == "Step size of the optimizer."
    assert comments["batch_size"] == "transitions per update"
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, ToyConfig)
    text = parser.format_help()
    assert "--learning-rate" in text and "Step size of the optimizer." in text
    assert "A label for the run." in text
    assert "--double, --no-double" in text


def test_percent_signs_in_comments_do_not_break_help():
    @dataclasses.dataclass
    class Rates:
        # Share of the data kept (100% = all of it).
        keep: float = 1.0

    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, Rates)
    assert "(100% = all of it)" in parser.format_help()


@pytest.mark.parametrize(
    "argv",
    [["--batch-size", "many"], ["--optimizer", "sgd"], ["--epsilon", "{not json"]],
)
def test_bad_values_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert "argument" in capsys.readouterr().err


def test_json_round_trip():
    cfg = ToyConfig(hidden=(5,), clip_norm=None, double=False)
    text = json.dumps(to_json(cfg))
    assert from_json(ToyConfig, json.loads(text)) == cfg


def test_from_json_rejects_unknown_fields_and_fills_missing_ones():
    with pytest.raises(ValueError, match=r"unknown ToyConfig field.*learnin_rate"):
        from_json(ToyConfig, {"learnin_rate": 0.1})
    assert from_json(ToyConfig, {"batch_size": 2}) == ToyConfig(batch_size=2)


def test_exclude_leaves_a_field_out():
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, ToyConfig, exclude=["name"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--name", "y"])
