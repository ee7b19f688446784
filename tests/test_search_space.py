import argparse

import pytest

from samplernn import search_space
from samplernn.config import ModelConfig
from samplernn.errors import UserError


def parse(argv):
    parser = argparse.ArgumentParser()
    search_space.add_search_space_arguments(parser)
    return search_space.from_args(parser.parse_args(argv))


def test_every_searched_name_is_a_model_or_training_key():
    assert set(search_space.NAMES) <= search_space.MODEL_KEYS | search_space.TRAIN_KEYS


def test_defaults_are_small_and_all_valid():
    expansion = search_space.expand(parse([]))
    assert 1 < len(expansion.points) <= 1000
    assert not expansion.skipped
    assert set(expansion.points[0]) == set(search_space.NAMES)


def test_frame_sizes_are_given_one_list_per_flag_and_replace_the_default():
    space = parse(["--frame_sizes", "16", "64", "--frame_sizes", "32", "128"])
    assert space["frame_sizes"] == ((16, 64), (32, 128))


def test_frame_sizes_of_any_depth_are_searched():
    space = parse(["--frame_sizes", "16", "--frame_sizes", "16", "64", "--frame_sizes", "4", "16", "64"])
    space.update(seq_len=(512,), batch_size=(8,), dim=(32,), num_rnn_layers=(1,), rnn_type=("gru",))
    space.update(skip_conn=(False,), rnn_dropout=(0.0,), learning_rate=(0.001,))
    expansion = search_space.expand(space)
    assert [p["frame_sizes"] for p in expansion.points] == [(16,), (16, 64), (4, 16, 64)]
    assert search_space.from_scalars(search_space.to_scalars(expansion.points[2])) == expansion.points[2]


def test_repeated_values_are_tried_once():
    assert parse(["--batch_size", "32", "32", "64"])["batch_size"] == (32, 64)


def test_invalid_combinations_are_skipped_with_their_reasons():
    space = parse(
        ["--frame_sizes", "16", "64", "--frame_sizes", "32", "128", "--seq_len", "64", "128"]
        + ["--batch_size", "8", "--num_rnn_layers", "2", "--dim", "32", "--rnn_type", "gru"]
        + ["--skip_conn", "False", "--rnn_dropout", "0", "--learning_rate", "0.001"]
    )
    expansion = search_space.expand(space)
    # seq_len 64 cannot hold a big frame of 128: three of the four pairs are valid.
    assert [(p["frame_sizes"], p["seq_len"]) for p in expansion.points] == [
        ((16, 64), 64),
        ((16, 64), 128),
        ((32, 128), 128),
    ]
    (reason,) = expansion.skipped
    assert "seq_len" in reason and "128" in reason
    assert expansion.describe().startswith("3 of 4 combinations valid; skipped: ")


def test_rules_come_from_the_config_itself():
    # q_levels other than 256 is valid only with linear quantization; mu-law ones are skipped.
    space = parse(["--q_type", "mu-law", "linear", "--q_levels", "256", "16"])
    pairs = {(p["q_type"], p["q_levels"]) for p in search_space.expand(space).points}
    assert pairs == {("mu-law", 256), ("linear", 256), ("linear", 16)}


def test_a_bad_optimizer_is_skipped_by_train_settings_validation():
    space = parse(["--optimizer", "adam", "adagrad"])
    expansion = search_space.expand(space)
    assert {p["optimizer"] for p in expansion.points} == {"adam"}
    assert any("adagrad" in reason for reason in expansion.skipped)


def test_an_empty_space_is_an_error_that_names_why():
    space = parse(["--frame_sizes", "16", "64", "--seq_len", "100"])
    with pytest.raises(UserError, match=r"no valid combination.*'seq_len' \(100\) must be divisible by .* 64"):
        search_space.expand(space)


def test_a_parameter_without_candidates_is_named():
    with pytest.raises(UserError, match="no candidates for dim"):
        search_space.expand({**parse([]), "dim": ()})


def test_a_value_outside_its_range_names_the_key():
    with pytest.raises(UserError, match="rnn_dropout"):
        search_space.expand(parse(["--rnn_dropout", "1.5"]))


def test_extra_checks_filter_points():
    def no_big_batches(point):
        if point["batch_size"] > 32:
            raise UserError("too big")

    expansion = search_space.expand(parse(["--batch_size", "32", "64"]), checks=[no_big_batches])
    assert {p["batch_size"] for p in expansion.points} == {32}
    assert expansion.skipped["too big"] == len(expansion.points)


def test_an_oversized_space_is_refused_before_enumerating_it():
    space = parse(["--dim"] + [str(d) for d in range(1, 2000)] + ["--emb_size"] + [str(e) for e in range(1, 200)])
    with pytest.raises(UserError, match="combinations, more than"):
        search_space.expand(space)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch_size", "32", "many"], "--batch_size: expected an integer, got 'many'"),
        (["--batch_size", "0"], "--batch_size: expected an integer >= 1"),
        (["--dim", "1.5"], "--dim: invalid int value: '1.5'"),
        (["--learning_rate", "fast"], "--learning_rate: expected a number, got 'fast'"),
        (["--skip_conn", "maybe"], "--skip_conn: expected True or False, got 'maybe'"),
        (["--frame_sizes"], "--frame_sizes: expected at least one argument"),
        (["--rnn_dropout", "x"], "--rnn_dropout: invalid float value: 'x'"),
    ],
)
def test_wrong_type_list_values_are_one_line_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_point_splits_into_a_config_and_train_py_flags():
    space = parse(["--frame_sizes", "32", "128", "--seq_len", "512", "--batch_size", "16", "--learning_rate", "0.01"])
    point = search_space.expand(space).points[0]
    config, overrides = search_space.split(point)
    assert isinstance(config, ModelConfig)
    assert (config.frame_sizes, config.seq_len) == ((32, 128), 512)
    assert config.mlp_input_relu is False  # unsearched keys as default.config.json has them
    assert overrides == {"batch_size": 16, "learning_rate": 0.01, "momentum": 0.9, "optimizer": "adam"}
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_scalar_form_round_trips():
    point = search_space.expand(parse([])).points[0]
    scalars = search_space.to_scalars(point)
    assert scalars["frame_sizes"] == "16 64"
    assert all(not isinstance(v, (tuple, list)) for v in scalars.values())
    assert search_space.from_scalars(scalars) == point
