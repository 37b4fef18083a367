"""`t2sql export`: a registered version as a plain Hugging Face folder (adapter merged) or a GGUF file for llama.cpp and Ollama.

The export is built under a hidden temporary name beside the destination and renamed into place
only when complete, so an interrupted export never leaves a folder that looks finished. It is then
logged to the version's MLflow run (`export/<folder>`) and its hash is tagged on the version
(`export.gguf.sha256` or `export.merged.sha256`), so a runtime's copy can be traced to its version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from t2sql_pipeline.core.registry.gguf_export import GgufExportError, Quantization, check_gguf_architecture, write_gguf

ExportFormat = Literal["merged", "gguf"]
GGUF_FILE, MODELFILE, PROMPT_FILE = "model.gguf", "Modelfile", "t2sql_prompt.json"
_SYSTEM_SLOT, _PROMPT_SLOT = "{{ .System }}", "{{ .Prompt }}"
_USER_SLOT = "\x01user message\x01"  # a sentinel no chat template writes itself


class ExportError(ValueError):
    """An export that cannot be made; the message names the version, the folder or the problem."""


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the finished folder
    sha256: str  # of the GGUF file, or of the merged folder's files (names and hashes)
    tag: str  # the version tag that holds the hash
    artifact_path: str | None  # where it was logged in the version's run (None: the version has no run)


def default_export_dir(exports_root: Path, name: str, version: str, fmt: ExportFormat, quantization: Quantization) -> Path:
    """`<exports>/<name>-v<version>-merged` or `...-gguf-<quantization>`."""
    suffix = f"gguf-{quantization}" if fmt == "gguf" else "merged"
    return exports_root / f"{name}-v{version}-{suffix}"


def export_version(tracking_uri: str, reference: str, fmt: ExportFormat, out: Path, quantization: Quantization = "f16") -> ExportResult:
    """Export the registered version `reference` (NAME@alias | NAME/version) to the new folder `out`, log and tag it."""
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry.model_registry import ModelReferenceError, resolve_reference

    if out.exists():
        raise ExportError(f"{out}: already exists; remove it or choose another --out")
    client = MlflowClient(tracking_uri)
    try:
        version = resolve_reference(client, reference)
    except ModelReferenceError as error:
        raise ExportError(str(error)) from None
    label = f"{version.name} version {version.version}"
    sql_model = _load_registered(tracking_uri, version.name, version.version)
    model, tokenizer = _merged_float32(sql_model)
    if fmt == "gguf":
        check_gguf_architecture(model.config, label)
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _write_prompt_file(partial / PROMPT_FILE, sql_model.prompt_format, label)
        if fmt == "gguf":
            write_gguf(model, tokenizer, partial / GGUF_FILE, quantization, _base_gguf(sql_model, label), f"{version.name} v{version.version}")
            (partial / MODELFILE).write_text(ollama_modelfile(tokenizer, sql_model.prompt_format, sql_model.settings.generation.max_new_tokens, label))
            digest = sha256_of_file(partial / GGUF_FILE)
        else:
            _write_merged(model, tokenizer, sql_model, partial)
            digest = sha256_of_folder(partial)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    tag = f"export.{fmt}.sha256"
    artifact_path = None
    if version.run_id:
        artifact_path = f"export/{out.name}"
        client.log_artifacts(version.run_id, str(out), artifact_path=artifact_path)
    client.set_model_version_tag(version.name, version.version, tag, digest)
    if fmt == "gguf":
        client.set_model_version_tag(version.name, version.version, "export.gguf.quantization", quantization)
    return ExportResult(out, digest, tag, artifact_path)


def _load_registered(tracking_uri: str, name: str, version: str) -> Any:
    """The version's pyfunc, loaded the way `t2sql generate` loads it (the SqlModel behind it)."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    try:
        with process_tracking_uri(tracking_uri):
            return mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
    except (MlflowException, OSError) as error:
        raise ExportError(f"{name} version {version} does not load as an MLflow model: {error}") from None


def _merged_float32(sql_model: Any) -> tuple[Any, Any]:
    """Base + adapter merged in float32: the served model when it already is that, else loaded again (a 4-bit base
    cannot take the merge, and bf16 weights would round the update)."""
    import torch
    from peft import PeftModel

    from t2sql_pipeline.core.inference.loading import load_for_inference

    model = sql_model.model
    if isinstance(model, PeftModel) or next(model.parameters()).dtype != torch.float32:
        model, _ = load_for_inference(sql_model.base_path, sql_model.adapter_path, None)
    return model.to("cpu").eval(), sql_model.tokenizer


def _base_gguf(sql_model: Any, label: str) -> Path | None:
    """The base GGUF file a `model.source: gguf` version was trained on (its metadata is carried), checked by hash."""
    from t2sql_pipeline.core.state import models_dir
    from t2sql_pipeline.core.training.gguf_models import converted_from_sha256, gguf_file_of, sha256_of

    if sql_model.settings.model.source != "gguf":
        return None
    path = gguf_file_of(sql_model.settings.model, models_dir())
    expected = converted_from_sha256(Path(sql_model.base_path))
    if expected is not None and sha256_of(path) != expected:
        raise ExportError(f"{label}: the base GGUF file {path} is not the one the version was trained on (sha256 {expected[:12]}...)")
    return path


def _write_merged(model: Any, tokenizer: Any, sql_model: Any, folder: Path) -> None:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,  # the end of the answer turn: what stops generation in any runtime
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=sql_model.settings.generation.max_new_tokens,
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _write_prompt_file(path: Path, prompt_format: str, label: str) -> None:
    """The system prompt and user message layout the model was trained on, for runtimes outside this package."""
    from t2sql_pipeline.core.training.tokenization import SYSTEM_PROMPT, user_message

    layout = {
        "model": label,
        "prompt_format": prompt_format,
        "system_prompt": SYSTEM_PROMPT,
        "user_message": user_message("{schema: CREATE TABLE statements}", "{question}", "{evidence, when the model was trained with it}"),
    }
    path.write_text(json.dumps(layout, indent=2) + "\n", encoding="utf-8")


def ollama_modelfile(tokenizer: Any, prompt_format: str, max_new_tokens: int, label: str) -> str:
    """An Ollama Modelfile whose template renders exactly the training prompt: the chat template (or `[INST]`
    format) rendered once around placeholders, with the system prompt, the stop token and greedy decoding."""
    from t2sql_pipeline.core.training.tokenization import SYSTEM_PROMPT, build_prompt, user_message

    rendered = build_prompt(tokenizer, _USER_SLOT, prompt_format)  # type: ignore[arg-type]
    if rendered.count(SYSTEM_PROMPT) != 1 or rendered.count(_USER_SLOT) != 1:
        raise ExportError(f"{label}: the prompt template does not place the system prompt and the question once each")
    template = rendered.replace(SYSTEM_PROMPT, _SYSTEM_SLOT).replace(_USER_SLOT, _PROMPT_SLOT)
    if '"""' in template or '"""' in SYSTEM_PROMPT:
        raise ExportError(f'{label}: the prompt template contains """, which a Modelfile cannot quote')
    example = user_message("CREATE TABLE singer (singer_id INTEGER, name TEXT, age INTEGER);", "How many singers are older than 30?", None)
    comment = "\n".join(f"#   {line}" for line in example.splitlines())
    stop = tokenizer.eos_token
    return (
        f"# {label}, exported by `t2sql export`. Create it with: ollama create <name> -f Modelfile\n"
        f"# The prompt is the user message the model was trained on, e.g.:\n{comment}\n"
        f"FROM ./{GGUF_FILE}\n"
        f'TEMPLATE """{template}"""\n'
        f'SYSTEM """{SYSTEM_PROMPT}"""\n' + (f'PARAMETER stop "{stop}"\n' if stop else "") + "PARAMETER temperature 0\n"
        f"PARAMETER num_predict {max_new_tokens}\n"
    )


def load_export(folder: Path) -> tuple[Any, Any]:
    """An exported folder loaded back with transformers: the merged weights, or the GGUF file (`gguf_file=`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": GGUF_FILE} if (folder / GGUF_FILE).is_file() else {}
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32", **kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # batched generation, as the pipeline's own tokenizer for generation
    return model.eval(), tokenizer


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_folder(folder: Path) -> str:
    """One hash for a folder: its files' relative paths and hashes, sorted."""
    lines = [f"{p.relative_to(folder).as_posix()} {sha256_of_file(p)}" for p in sorted(folder.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


__all__ = ["ExportError", "ExportResult", "GgufExportError", "default_export_dir", "export_version", "load_export", "ollama_modelfile"]
