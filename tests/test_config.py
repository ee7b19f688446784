import json
import os
import warnings
from pathlib import Path

import pytest

from samplernn import configs
from samplernn.config import ModelConfig
from samplernn.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = Path(configs.DEFAULT_CONFIG_FILE)

# The reference toolkit's documented defaults ("Configuring the Model" in its README).
REFERENCE_DEFAULTS = {
    "seq_len": 1024,
    "frame_sizes": [16, 64],
    "dim": 1024,
    "rnn_type": "gru",
    "num_rnn_layers": 4,
    "q_type": "mu-law",
    "q_levels": 256,
    "emb_size": 256,
    "skip_conn": False,
}


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_defaults_are_the_references():
    data = ModelConfig().to_dict()
    assert {key: data[key] for key in REFERENCE_DEFAULTS} == REFERENCE_DEFAULTS
    assert data["rnn_dropout"] == 0.0


def test_default_config_file_loads_to_the_defaults_without_the_mlp_input_relu():
    loaded = ModelConfig.load(str(DEFAULT_CONFIG_FILE))
    assert loaded == ModelConfig(mlp_input_relu=False)
    on_disk = json.loads(DEFAULT_CONFIG_FILE.read_text())
    assert {key: on_disk[key] for key in REFERENCE_DEFAULTS} == REFERENCE_DEFAULTS


@pytest.mark.parametrize("packaged", [configs.DEFAULT_CONFIG_FILE, configs.DEMO_CONFIG_FILE])
def test_the_top_level_configs_are_copies_of_the_packaged_ones(packaged):
    # Users pass ./default.config.json by path; with no --config_file the packaged one is used.
    top_level = ROOT / os.path.basename(packaged)
    assert top_level.read_bytes() == Path(packaged).read_bytes(), f"copy {packaged} over {top_level}"


def test_an_empty_file_means_all_defaults(tmp_path):
    assert ModelConfig.load(write_json(tmp_path / "empty.config.json", {})) == ModelConfig()


def test_a_config_saved_before_mlp_input_relu_keeps_the_relu(tmp_path):
    # A run's model.config.json from before the key builds the model that run trained.
    older = {k: v for k, v in ModelConfig().to_dict().items() if k != "mlp_input_relu"}
    assert ModelConfig.load(write_json(tmp_path / "model.config.json", older)).mlp_input_relu is True


def test_properties_name_the_bottom_and_top_frame_sizes():
    cfg = ModelConfig(seq_len=64, frame_sizes=[4, 16])
    assert (cfg.frame_size, cfg.big_frame_size) == (4, 16)
    assert cfg.frame_sizes == (4, 16)  # stored as a tuple, so configs compare and hash


@pytest.mark.parametrize("sizes", [[16], [16, 64], [4, 16, 64], [2, 4, 16, 64]])
def test_any_number_of_frame_tiers_is_valid(sizes):
    cfg = ModelConfig.from_dict({"seq_len": 128, "frame_sizes": sizes})
    assert (cfg.frame_size, cfg.big_frame_size) == (sizes[0], sizes[-1])


def test_round_trip_through_dict_and_file(tmp_path):
    cfg = ModelConfig(
        seq_len=96,
        frame_sizes=(8, 32),
        dim=48,
        rnn_type="lstm",
        num_rnn_layers=3,
        q_type="linear",
        q_levels=1024,
        emb_size=12,
        skip_conn=True,
        rnn_dropout=0.25,
        learn_h0=False,
        weight_norm=False,
        mlp_input_relu=False,
    )
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()  # plain JSON types only

    path = tmp_path / "run" / "model.config.json"
    path.parent.mkdir()
    cfg.save(str(path))
    assert ModelConfig.load(str(path)) == cfg
    assert json.loads(path.read_text())["frame_sizes"] == [8, 32]
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.config.json"]  # no temp file left


def test_config_is_immutable():
    cfg = ModelConfig()
    with pytest.raises(AttributeError):
        cfg.dim = 8
    assert cfg.replace(dim=8).dim == 8 and cfg.dim == 1024


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"seqlen": 1024}, "seqlen"),
        ({"seq_len": 1024, "batch_size": 64}, "batch_size"),
        ({"seq_len": "1024"}, "seq_len"),
        ({"seq_len": 1024.0}, "seq_len"),
        ({"dim": True}, "dim"),  # bool is an int in Python, but not in a config
        ({"num_rnn_layers": False}, "num_rnn_layers"),
        ({"q_levels": 256.5, "q_type": "linear"}, "q_levels"),
        ({"emb_size": None}, "emb_size"),
        ({"skip_conn": "false"}, "skip_conn"),
        ({"skip_conn": 0}, "skip_conn"),
        ({"learn_h0": 1}, "learn_h0"),
        ({"weight_norm": "yes"}, "weight_norm"),
        ({"mlp_input_relu": "no"}, "mlp_input_relu"),
        ({"rnn_dropout": True}, "rnn_dropout"),
        ({"rnn_dropout": "0.1"}, "rnn_dropout"),
        ({"rnn_type": 1}, "rnn_type"),
        ({"frame_sizes": 16}, "frame_sizes"),
        ({"frame_sizes": [16.0, 64.0]}, "frame_sizes"),
        ({"frame_sizes": [True, 64]}, "frame_sizes"),
        ({"frame_sizes": []}, "frame_sizes"),
        ({"frame_sizes": [16, 64, 200]}, "frame_sizes"),  # 200 is not a multiple of 64
        ({"frame_sizes": [0, 16]}, "frame_sizes"),
        ({"seq_len": 1024, "frame_sizes": [16, 64, 2048]}, "seq_len"),  # not divisible by the largest
        ({"seq_len": 1000}, "seq_len"),  # not divisible by the big frame size 64
        ({"seq_len": 512, "frame_sizes": [16, 40]}, "frame_sizes"),  # 40 is not a multiple of 16
        ({"frame_sizes": [64, 16]}, "frame_sizes"),  # not ascending
        ({"frame_sizes": [16, 16], "seq_len": 1024}, "frame_sizes"),
        ({"seq_len": 0}, "seq_len"),
        ({"dim": 0}, "dim"),
        ({"rnn_type": "rnn"}, "rnn_type"),
        ({"rnn_type": "GRU "}, "rnn_type"),
        ({"q_type": "mulaw"}, "q_type"),
        ({"q_type": "linear", "q_levels": 1}, "q_levels"),
        ({"rnn_dropout": 1.0}, "rnn_dropout"),
        ({"rnn_dropout": -0.1}, "rnn_dropout"),
    ],
)
def test_each_bad_value_raises_one_line_naming_the_key_and_file(tmp_path, data, named):
    path = write_json(tmp_path / "bad.config.json", data)
    with pytest.raises(UserError) as caught:
        ModelConfig.load(path)
    message = str(caught.value)
    assert repr(named) in message
    assert path in message
    assert "\n" not in message


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown key 'dims'") as caught:
        ModelConfig.from_dict({"dims": 8})
    assert "dim," in str(caught.value) and "seq_len" in str(caught.value)


def test_a_json_value_that_is_not_an_object_is_rejected(tmp_path):
    path = write_json(tmp_path / "list.config.json", [1024, [16, 64]])
    with pytest.raises(UserError, match="expected a JSON object"):
        ModelConfig.load(path)


def test_missing_file_names_it(tmp_path):
    missing = str(tmp_path / "nope.config.json")
    with pytest.raises(UserError, match="does not exist") as caught:
        ModelConfig.load(missing)
    assert missing in str(caught.value)


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        ModelConfig.load(str(tmp_path))


@pytest.mark.parametrize("text", ['{"seq_len": 1024,}', "{'seq_len': 1024}", "", "seq_len = 1024"])
def test_invalid_json_names_the_file_on_one_line(tmp_path, text):
    path = tmp_path / "broken.config.json"
    path.write_text(text)
    with pytest.raises(UserError, match="not valid JSON") as caught:
        ModelConfig.load(str(path))
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_undecodable_bytes_are_a_user_error(tmp_path):
    path = tmp_path / "binary.config.json"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(UserError, match=str(path)):
        ModelConfig.load(str(path))


@pytest.mark.parametrize("q_levels", [16, 512])
def test_mu_law_with_other_q_levels_warns_and_uses_256(tmp_path, q_levels):
    path = write_json(tmp_path / "mu.config.json", {"q_type": "mu-law", "q_levels": q_levels})
    with pytest.warns(UserWarning, match=f"q_levels={q_levels}") as record:
        cfg = ModelConfig.load(path)
    assert len(record) == 1
    assert "256" in str(record[0].message)
    assert cfg.q_levels == 256


def test_mu_law_is_the_default_q_type_for_the_warning(tmp_path):
    with pytest.warns(UserWarning, match="q_levels"):
        cfg = ModelConfig.from_dict({"q_levels": 1024})
    assert (cfg.q_type, cfg.q_levels) == ("mu-law", 256)


def test_mu_law_with_256_and_linear_with_any_levels_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ModelConfig.from_dict({"q_type": "mu-law", "q_levels": 256}).q_levels == 256
        assert ModelConfig.from_dict({"q_type": "linear", "q_levels": 1024}).q_levels == 1024
        assert ModelConfig.from_dict({"q_type": "linear", "q_levels": 16}).q_levels == 16


def test_valid_non_default_configs_load():
    cfg = ModelConfig.from_dict({"seq_len": 512, "frame_sizes": [32, 128], "rnn_type": "lstm", "skip_conn": True})
    assert (cfg.seq_len, cfg.frame_sizes, cfg.rnn_type, cfg.skip_conn) == (512, (32, 128), "lstm", True)
    # A whole-number rnn_dropout written as an int is still a number.
    assert ModelConfig.from_dict({"rnn_dropout": 0}).rnn_dropout == 0
