"""`t2sql export` on the registered tiny model: the exports answer what the registered model answers, are logged,
tagged and reproducible, and bad input leaves nothing behind."""

from pathlib import Path

import pandas as pd
import pytest

from t2sql_pipeline.cli import main
from t2sql_pipeline.core.registry.export import GGUF_FILE, MODELFILE, PROMPT_FILE, ExportError, export_version, load_export
from tests.conftest import RegisteredSqlModel

pytestmark = pytest.mark.slow  # the fixture trains and registers a model

QUESTIONS = ("How many customers are there?", "List the names of all products.", "What is the average price of products?", "Which city has most customers?")


@pytest.fixture(scope="module")
def registry(registered_sql_model: RegisteredSqlModel) -> RegisteredSqlModel:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in registered_sql_model.env().items():
            patch.setenv(key, value)
        yield registered_sql_model


@pytest.fixture(scope="module")
def registered(registry: RegisteredSqlModel):
    import mlflow.pyfunc

    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    with process_tracking_uri(registry.tracking_uri):
        return mlflow.pyfunc.load_model(f"models:/{registry.reference}")


@pytest.fixture(scope="module")
def exports(registry: RegisteredSqlModel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for name, fmt, quantization in (
        ("gguf", "gguf", "f16"),
        ("gguf-again", "gguf", "f16"),
        ("q8_0", "gguf", "q8_0"),
        ("merged", "merged", "f16"),
        ("merged-again", "merged", "f16"),
    ):
        out[name] = export_version(registry.tracking_uri, registry.reference, fmt, root / name, quantization).path
    return out


def answers(registry: RegisteredSqlModel, registered, folder: Path) -> list[str]:
    """The exported model's greedy SQL, through the same prompt building and extraction as the registered one."""
    from t2sql_pipeline.core.inference.requests import SqlRequest, generate_sql

    served = registered.unwrap_python_model()
    model, tokenizer = load_export(folder)
    db = str(registry.db_dir / "shop" / "shop.sqlite")
    return generate_sql(model, tokenizer, served.settings, served.prompt_format, [SqlRequest(q, None, db, None) for q in QUESTIONS])


def registered_answers(registry: RegisteredSqlModel, registered) -> list[str]:
    db = str(registry.db_dir / "shop" / "shop.sqlite")
    return list(registered.predict(pd.DataFrame([{"question": q, "db_path": db} for q in QUESTIONS])))


@pytest.mark.parametrize("name", ["gguf", "merged"])
def test_the_export_answers_what_the_registered_model_answers(registry, registered, exports: dict[str, Path], name: str) -> None:
    expected = registered_answers(registry, registered)
    assert all(sql.endswith(";") for sql in expected)
    assert answers(registry, registered, exports[name]) == expected


def test_q8_0_loads_back_and_is_smaller(registry, registered, exports: dict[str, Path]) -> None:
    assert (exports["q8_0"] / GGUF_FILE).stat().st_size < 0.75 * (exports["gguf"] / GGUF_FILE).stat().st_size
    assert len(answers(registry, registered, exports["q8_0"])) == len(QUESTIONS)


def test_exporting_twice_gives_the_same_bytes_and_the_version_is_tagged(registry, exports: dict[str, Path]) -> None:
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry.export import sha256_of_file, sha256_of_folder

    first, again = (sha256_of_file(exports[name] / GGUF_FILE) for name in ("gguf", "gguf-again"))
    assert first == again
    assert sha256_of_folder(exports["merged"]) == sha256_of_folder(exports["merged-again"])
    client = MlflowClient(registry.tracking_uri)
    tags = client.get_model_version(registry.name, registry.version).tags
    assert tags["export.merged.sha256"] == sha256_of_folder(exports["merged"])
    # The tag names the latest GGUF export: the fixture's last one was q8_0.
    assert (tags["export.gguf.sha256"], tags["export.gguf.quantization"]) == (sha256_of_file(exports["q8_0"] / GGUF_FILE), "q8_0")
    run_id = client.get_model_version(registry.name, registry.version).run_id
    logged = {a.path for a in client.list_artifacts(run_id, "export")}
    assert {f"export/{name}" for name in exports} <= logged
    assert {a.path.rsplit("/", 1)[1] for a in client.list_artifacts(run_id, "export/gguf")} == {GGUF_FILE, MODELFILE, PROMPT_FILE}


def test_the_modelfile_template_renders_the_training_prompt(registered, exports: dict[str, Path]) -> None:
    from t2sql_pipeline.core.training.tokenization import SYSTEM_PROMPT, build_prompt

    served = registered.unwrap_python_model()
    modelfile = (exports["gguf"] / MODELFILE).read_text()
    assert f"FROM ./{GGUF_FILE}" in modelfile and f'SYSTEM """{SYSTEM_PROMPT}"""' in modelfile
    assert f'PARAMETER stop "{served.tokenizer.eos_token}"' in modelfile
    template = modelfile.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    message = "Database schema:\nCREATE TABLE t (a INTEGER);\nQuestion: how many?"
    rendered = template.replace("{{ .System }}", SYSTEM_PROMPT).replace("{{ .Prompt }}", message)
    assert rendered == build_prompt(served.tokenizer, message, served.prompt_format)


def test_the_merged_folder_stops_at_the_end_of_the_answer(registered, exports: dict[str, Path]) -> None:
    from transformers import GenerationConfig

    generation = GenerationConfig.from_pretrained(exports["merged"])
    assert generation.eos_token_id == registered.unwrap_python_model().tokenizer.eos_token_id
    assert generation.do_sample is False


def test_an_existing_folder_is_refused_and_left_alone(registry, exports: dict[str, Path]) -> None:
    before = sorted(p.name for p in exports["merged"].iterdir())
    with pytest.raises(ExportError, match=r"already exists; remove it or choose another --out"):
        export_version(registry.tracking_uri, registry.reference, "merged", exports["merged"])
    assert sorted(p.name for p in exports["merged"].iterdir()) == before


def test_a_failed_write_leaves_nothing(registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from t2sql_pipeline.core.registry import export

    def interrupted(model, tokenizer, path, *args) -> None:
        path.write_bytes(b"GGUF half")
        raise OSError("No space left on device")

    monkeypatch.setattr(export, "write_gguf", interrupted)
    with pytest.raises(OSError, match="No space left"):
        export_version(registry.tracking_uri, registry.reference, "gguf", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "t2sql-demo@nonexistent", "--format", "gguf"], "t2sql export: 't2sql-demo@nonexistent': "),
        (["--model", "no-such-model", "--format", "merged"], "t2sql export: no registered model named 'no-such-model'"),
        (["--model", "x", "--format", "merged", "--quantization", "q8_0"], "t2sql export: --quantization applies to --format gguf only"),
    ],
)
def test_cli_errors_are_one_line(registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["export", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_cli_exports_to_the_state_folder_by_default(registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--model", registry.reference, "--format", "gguf", "--quantization", "q8_0"]) == 0
    out = capsys.readouterr().out
    folder = registry.home / "exports" / f"{registry.name}-v{registry.version}-gguf-q8_0"
    assert f"exported {registry.reference} to {folder}" in out and "export.gguf.sha256: " in out
    assert (folder / GGUF_FILE).is_file() and (folder / MODELFILE).is_file()


def test_the_agreement_benchmark_compares_every_export(registry, exports: dict[str, Path], tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from benchmarks import export_agreement

    argv = ["--model", registry.reference, "--run-dir", str(registry.run_dir), "--questions", "4", "--out", str(tmp_path / "agreement.json")]
    results = export_agreement.main(argv + [f"--export={name}={exports[name]}" for name in ("merged", "gguf")])
    by_variant = {(r.variant, r.runtime): r for r in results}
    for name in ("registered", "merged", "gguf"):
        result = by_variant[(name, "transformers")]
        assert result.same_prompts and result.questions == 4 and result.identical_answers == 4
    assert (tmp_path / "agreement.json").is_file()
