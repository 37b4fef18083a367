"""The training command: one Python process, or torchrun with `training.num_processes` workers; the request round-trips."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from t2sql_pipeline.core.records import BaseModelManifest, SplitsManifest
from t2sql_pipeline.core.settings import SettingsError
from t2sql_pipeline.core.training.launch import ENTRY_MODULE, TrainingRequest, free_port, read_result, request_for, training_command
from t2sql_pipeline.core.training.tied_to_parent import MODULE as TIED_MODULE
from tests.tiny_models import tiny_settings


def test_one_process_runs_the_entry_module_with_this_interpreter() -> None:
    command = training_command(tiny_settings(), Path("/tmp/req.json"), python="/venv/bin/python")
    assert command == ["/venv/bin/python", "-m", ENTRY_MODULE, "/tmp/req.json"]


def test_several_processes_run_under_torchrun_on_one_node() -> None:
    command = training_command(tiny_settings("training.num_processes=3"), Path("/tmp/req.json"), python="py", port=29555, launcher_pid=4242)
    assert command[:4] == ["py", "-m", TIED_MODULE, "4242"]  # torchrun tied to the process that starts it
    torchrun = command[4:]
    assert torchrun[:3] == ["py", "-m", "torch.distributed.run"]
    options = dict(zip(torchrun[3:11:2], torchrun[4:12:2], strict=True))
    assert options == {"--nproc_per_node": "3", "--nnodes": "1", "--master_addr": "127.0.0.1", "--master_port": "29555"}
    assert torchrun[11:] == ["-m", ENTRY_MODULE, "/tmp/req.json"]


def test_without_a_port_a_free_one_is_chosen() -> None:
    command = training_command(tiny_settings("training.num_processes=2"), Path("r.json"))
    port = int(command[command.index("--master_port") + 1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # still free: torchrun can bind it
    assert 0 < free_port() < 65536


def test_num_processes_must_be_positive() -> None:
    with pytest.raises(SettingsError, match="training.num_processes"):
        tiny_settings("training.num_processes=0")
    assert tiny_settings().training.num_processes == 1


def test_request_round_trips_and_a_missing_result_is_named(tmp_path: Path) -> None:
    settings = tiny_settings("training.max_steps=3", "training.num_processes=2")
    splits = SplitsManifest(path=str(tmp_path / "dataset"), prompt_format="inst", splits={})
    base = BaseModelManifest(path=str(tmp_path / "base"), name="tiny", parameters=10, vocab_size=300, has_chat_template=False)
    path, request = request_for(settings, splits, base, tmp_path / "run", "sqlite:///x.db")
    assert path == tmp_path / "run" / "lora_adapter" / "training_request.json"
    again = TrainingRequest.read(path)
    assert again == request and again.settings.training.max_steps == 3 and again.base.name == "tiny"
    with pytest.raises(RuntimeError, match="adapter_manifest.json"):
        read_result(again)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        TrainingRequest.read(tmp_path / "nope.json")


def test_an_interrupt_inside_a_deferred_block_is_raised_when_it_ends() -> None:
    import os
    import signal

    from t2sql_pipeline.core.training.launch import interrupts_deferred

    # The precondition the function documents; a test earlier in the session (Dagster in-process) may leave another handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("the write completed")
    assert finished == ["the write completed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    with interrupts_deferred():
        finished.append("no signal, no exception")
    assert len(finished) == 2
    signal.signal(signal.SIGINT, previous)
