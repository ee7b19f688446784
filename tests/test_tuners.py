"""Both tuners end to end on a tiny corpus: a real two-trial search, then train.py trains one
epoch from the config the search wrote.

Tests that start Ray run it in a network namespace with loopback only (Ray binds the machine's
outward interface even when told 127.0.0.1); they are skipped where `ip netns` is not allowed.
"""

import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np
import pytest
import soundfile as sf
from conftest import load_in_a_fresh_process

from samplernn import checkpoints, keras_tuning, ray_tuning
from samplernn.config import ModelConfig
from samplernn.errors import UserError

pytestmark = [
    pytest.mark.slow,
    # Keras Tuner's own use of threading.currentThread.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras_tuner"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 16000
# Six files: with batches of two and --val_frac 0.34, two batches train and one validates.
NUM_FILES = 6
FILE_SAMPLES = 256
# Two valid points (dim 8 or 16); seq_len 36 is not a multiple of the big frame and is skipped.
SPACE = (
    "--frame_sizes 2 8 --seq_len 32 36 --dim 8 16 --num_rnn_layers 1 --emb_size 8 --rnn_type gru "
    "--skip_conn False --rnn_dropout 0 --batch_size 2 --learning_rate 0.001"
).split()
RAY_START_SECONDS = 60
RAY_RUN_SECONDS = 180


def load_script(name):
    """A top-level script as a module; under another name, since keras_tuner.py has the
    package's."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", os.path.join(ROOT, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    t = np.arange(FILE_SAMPLES) / RATE
    for i in range(NUM_FILES):
        tone = 0.5 * np.sin(2 * np.pi * (220 + 55 * i) * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
        sf.write(str(folder / f"tone_{i}.wav"), tone, RATE, subtype="PCM_16")
    return str(folder)


def run_args(corpus, logdir_root):
    return ["--data_dir", corpus, "--logdir_root", str(logdir_root), "--num_epochs", "1", "--val_frac", "0.34"]


def train_from_printed_command(output, corpus, logdir_root):
    """Run train.py for one epoch exactly as the tuner said to, and return the checkpoint it saved."""
    (command,) = [line for line in output.splitlines() if line.strip().startswith("python train.py ")]
    argv = shlex.split(command)[2:]
    argv += ["--num_epochs", "1", "--logdir_root", str(logdir_root), "--generate", "False", "--val_frac", "0.34"]
    assert load_script("train").main(argv) == 0
    saved = checkpoints.latest_checkpoint(str(logdir_root), "default")
    assert saved and saved.endswith("model.ckpt-1")
    return saved


def assert_best_checkpoint_is_what_was_scored(output, score, best_config, corpus, tmp_path):
    """The best trial's checkpoint, loaded in a fresh process as generate.py loads it, is the model
    that earned the score, and best.config.json is its architecture."""
    (line,) = [x for x in output.splitlines() if x.startswith("Its latest checkpoint: ")]
    path = line.split(": ", 1)[1]
    assert checkpoints.config_beside(path) == best_config
    val_loss, _ = load_in_a_fresh_process(path, corpus, tmp_path, 2, 0.34)
    assert val_loss == pytest.approx(score, rel=1e-4)


def test_keras_tuner_searches_resumes_and_feeds_train_py(corpus, tmp_path, capsys):
    script = load_script("keras_tuner")
    argv = run_args(corpus, tmp_path / "logdir") + ["--max_trials", "3"] + SPACE

    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "Search space: 2 of 4 combinations valid; skipped: key 'seq_len' (36)" in out
    # Only the two valid points run, though --max_trials allows three.
    results = tmp_path / "logdir" / keras_tuning.TUNER_NAME / "default"
    assert sorted(p.name for p in results.glob("trial_*")) == ["trial_0", "trial_1"]
    summary = out[out.index("[Trial summary]") :].splitlines()
    assert re.fullmatch(r" \|-Trial ID: [01]", summary[1])
    assert re.fullmatch(r" \|-Score: \d+\.\d+", summary[2])
    assert summary[3] == " |-Best step: 1"
    assert summary[4] == " > Hyperparameters:"
    assert " |-frame_sizes: 2 8" in summary and " |-batch_size: 2" in summary
    assert summary[-1].startswith("  python train.py ")

    config = ModelConfig.load(str(results / "best.config.json"))
    assert (config.frame_sizes, config.seq_len, config.num_rnn_layers) == ((2, 8), 32, 1)
    assert config.dim in (8, 16)
    assert "Pass with it to train.py: --batch_size 2 --learning_rate 0.001" in out

    # A rerun resumes the finished search: no new trial, the same best.
    assert script.main(argv) == 0
    again = capsys.readouterr().out
    assert "Reloading Tuner" in again and "Running Trial" not in again
    assert again[again.index("[Trial summary]") :] == out[out.index("[Trial summary]") :]

    assert_best_checkpoint_is_what_was_scored(out, float(summary[2].split(": ")[1]), config, corpus, tmp_path)
    train_from_printed_command(out, corpus, tmp_path / "train_logdir")


def test_keras_tuner_refuses_to_resume_a_different_search(corpus, tmp_path, capsys):
    from samplernn import cli

    logdir = tmp_path / "logdir"
    (logdir / keras_tuning.TUNER_NAME / "default").mkdir(parents=True)
    (logdir / keras_tuning.TUNER_NAME / "default" / "search.json").write_text('{"num_epochs": 7}')
    script = load_script("keras_tuner")
    code = cli.run(script.main, run_args(corpus, logdir) + SPACE, prog="keras_tuner.py")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a search with different num_epochs, objective, space" in err[0]


# --- Ray


@pytest.mark.parametrize(
    ("available", "asked", "planned"),
    [
        # The reference README's example: four trials at once, each with a CPU and half a GPU.
        ({"CPU": 8.0, "GPU": 2.0}, (4, 2, 10, None), (4, 1, 0.5)),
        # By default, all the runtime has, one trial per CPU.
        ({"CPU": 2.0}, (None, None, 10, None), (2, 1, 0)),
        # No more trials at once than there are trials.
        ({"CPU": 8.0, "GPU": 1.0}, (8, 1, 2, None), (2, 4, 0.5)),
        # Above one GPU a trial gets whole GPUs.
        ({"CPU": 4.0, "GPU": 3.0}, (2, 3, 2, None), (2, 1, 1)),
        ({"CPU": 4.0, "GPU": 1.0}, (4, 1, 10, 3), (3, 1.3333, 0.3333)),
    ],
)
def test_resources_per_trial_are_derived_from_the_totals(available, asked, planned):
    concurrent, cpus, gpus = ray_tuning.plan_resources(available, *asked)
    assert (concurrent, cpus, gpus) == pytest.approx(planned)


@pytest.mark.parametrize(
    ("available", "asked", "message"),
    [
        ({"CPU": 4.0}, (4, 1, 10, None), "--num_gpus 1: only 0 GPU"),
        ({"CPU": 4.0, "GPU": 1.0}, (4, 1.5, 10, None), "--num_gpus 1.5: only 1 GPU"),
        ({"CPU": 4.0}, (8, 0, 10, None), "--num_cpus 8: the Ray runtime has only 4 CPUs"),
    ],
)
def test_asking_for_more_than_the_runtime_has_is_an_error(available, asked, message):
    with pytest.raises(UserError, match=message):
        ray_tuning.plan_resources(available, *asked)


# Ray itself runs in a loopback-only network namespace.


def _run(*command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


# The cluster and its clients share a token, as a user's would: Ray turns token authentication
# on for a cluster when ~/.ray/auth_token exists, so the tests set it explicitly either way.
RAY_TOKEN = secrets.token_hex(32)


def _netns_env():
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=RAY_TOKEN)
    # A RAY_ADDRESS from the environment would point the scripts elsewhere.
    env.pop("RAY_ADDRESS", None)
    return env


def _kill_namespace_processes(netns):
    """End what still runs in our namespace, by process id: nothing else lives there."""
    for _ in range(20):
        pids = [int(p) for p in _run("ip", "netns", "pids", netns).stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


@pytest.fixture(scope="module")
def netns():
    if shutil.which("ip") is None:
        pytest.skip("Ray tests run in a network namespace, and the `ip` command is missing")
    name = f"srnn-test-{uuid.uuid4().hex[:8]}"
    added = _run("ip", "netns", "add", name)
    if added.returncode != 0:
        pytest.skip(
            f"Ray tests run in a network namespace, and `ip netns add` is not permitted: {added.stderr.strip()}"
        )
    try:
        up = _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        if up.returncode != 0:
            pytest.skip(f"cannot bring up loopback in a network namespace: {up.stderr.strip()}")
        yield name
    finally:
        _kill_namespace_processes(name)
        _run("ip", "netns", "del", name)


@pytest.fixture(scope="module")
def ray_cluster(netns):
    """A one-node Ray cluster started with `ray start --head`, as a user would; yields its address.

    `ray stop` would end every Ray process on the machine, so teardown ends this cluster's
    processes by id instead: `ray start --block` stops its own on SIGTERM."""
    # Short: Ray's socket paths under it must stay within the 107-character limit.
    temp_dir = tempfile.mkdtemp(prefix="srnn-ray-", dir="/tmp")
    address = "127.0.0.1:6379"
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    # To a file, not a pipe: `ray start --block` goes on writing, and would block on a full pipe.
    log_path = os.path.join(temp_dir, "head.log")
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            ["ip", "netns", "exec", netns, ray_cli, "start", "--head", "--block"]
            + ["--port", "6379", "--node-ip-address", "127.0.0.1", "--num-cpus", "2", "--num-gpus", "0"]
            + ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir]
            + ["--object-store-memory", str(100 * 1024 * 1024)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_netns_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + RAY_START_SECONDS
        while "Ray runtime started" not in _read(log_path):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray start --head did not start:\n" + _read(log_path)[-3000:])
            time.sleep(0.5)
        yield netns, address
    finally:
        # `ip netns exec` execs `ray start`: this is its process, which stops the cluster's others.
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        _kill_namespace_processes(netns)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


def run_ray_tune(netns, argv, timeout=RAY_RUN_SECONDS):
    return _run(
        "ip",
        "netns",
        "exec",
        netns,
        sys.executable,
        os.path.join(ROOT, "ray_tune.py"),
        *argv,
        env=_netns_env(),
        cwd=ROOT,
        timeout=timeout,
    )


def test_ray_tune_on_a_cluster_feeds_train_py(ray_cluster, corpus, tmp_path):
    netns, address = ray_cluster
    argv = run_args(corpus, tmp_path / "logdir") + ["--address", address, "--num_cpus", "2", "--num_trials", "2"]
    done = run_ray_tune(netns, argv + SPACE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Connecting to existing Ray cluster" in out + done.stderr
    assert "Running 2 trial(s) at a time, each with 1 CPU(s) and 0 GPU(s)" in out

    body = out[out.index("Best hyperparameters:") :]
    best = json.loads(body[body.index("{") : body.index("}") + 1])
    assert best["frame_sizes"] == [2, 8] and best["dim"] in (8, 16) and best["batch_size"] == 2
    summary = body[body.index("[Best trial]") :].splitlines()
    assert re.fullmatch(r" \|-Trial ID: \w+_0000[01]", summary[1])
    assert summary[2] == " |-Iterations: 1"
    assert re.fullmatch(r" \|-Duration: [\d.]+ sec", summary[3])
    assert re.fullmatch(r" \|-val_loss: \d+\.\d+ \(epoch 1\)", summary[4])
    # The trial's checkpoint went through Ray's checkpoint API into the results folder.
    (checkpoint_line,) = [line for line in summary if line.startswith("Its latest checkpoint: ")]
    assert checkpoints.exists(checkpoint_line.split(": ", 1)[1])

    results = tmp_path / "logdir" / "ray_tune" / "default"
    config = ModelConfig.load(str(results / "best.config.json"))
    assert config.dim == best["dim"] and config.frame_sizes == (2, 8)
    score = float(summary[4].split(": ")[1].split()[0])
    assert_best_checkpoint_is_what_was_scored(out, score, config, corpus, tmp_path)
    train_from_printed_command(out, corpus, tmp_path / "train_logdir")


def test_ray_tune_unreachable_address_is_a_one_line_error(netns, corpus, tmp_path):
    done = run_ray_tune(netns, run_args(corpus, tmp_path / "logdir") + ["--address", "127.0.0.1:1"] + SPACE, 60)
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("ray_tune.py: error:")]
    assert line.startswith("ray_tune.py: error: --address 127.0.0.1:1: no Ray cluster reachable there")
    assert "Traceback" not in done.stderr


def test_ray_tune_more_gpus_than_the_cluster_has_is_a_one_line_error(ray_cluster, corpus, tmp_path):
    netns, address = ray_cluster
    argv = run_args(corpus, tmp_path / "logdir") + ["--address", address, "--num_gpus", "1"] + SPACE
    done = run_ray_tune(netns, argv, 60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == "ray_tune.py: error: --num_gpus 1: only 0 GPU(s) are visible to Ray"
    assert "Traceback" not in done.stderr
