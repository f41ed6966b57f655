"""Hugging Face cache layouts built by hand, and a stand-in ``huggingface_hub`` module for the download path.

The layout is huggingface_hub's (file_download.py): ``models--owner--name/blobs/<sha256>`` holds the bytes,
``snapshots/<commit>/<file>`` is a relative symlink to the blob, ``refs/<branch>`` holds the commit hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import types
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def repo_dir(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def add_snapshot(cache: Path, repo_id: str, source: Path, commit: str = COMMIT, refs: tuple[str, ...] = ("main",),
                 skip: tuple[str, ...] = ()) -> Path:
    """Put the files of directory ``source`` (less ``skip``) into the cache as ``commit``; point ``refs`` at it."""
    repo = repo_dir(cache, repo_id)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in sorted(source.iterdir()):
        if file.is_file() and file.name not in skip:
            write_blob(repo, snapshot, file.name, file.read_bytes())
    for ref in refs:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # huggingface_hub writes the hash without a newline
    return snapshot


def write_blob(repo: Path, snapshot: Path, name: str, data: bytes) -> Path:
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    link = snapshot / name
    if link.exists() or link.is_symlink():
        link.unlink()
    try:
        link.symlink_to(os.path.relpath(blob, snapshot))
    except OSError:  # no symlinks (Windows without developer mode): huggingface_hub copies too
        shutil.copyfile(blob, link)
    return link


class FakeHub:
    """``hf_hub_download`` over an in-memory repository: writes the cache layout, records every call."""

    def __init__(self, repo_id: str, files: dict[str, bytes], commit: str = COMMIT) -> None:
        self.repo_id, self.files, self.commit = repo_id, files, commit
        self.calls: list[dict] = []
        self.EntryNotFoundError = type("EntryNotFoundError", (Exception,), {})
        self.RepositoryNotFoundError = type("RepositoryNotFoundError", (OSError,), {})
        # huggingface_hub's class for "no connection, and not in the cache" (an EntryNotFoundError too)
        self.LocalEntryNotFoundError = type("LocalEntryNotFoundError",
                                            (self.EntryNotFoundError, FileNotFoundError, ValueError), {})
        self.online = True

    def hf_hub_download(self, repo_id: str, filename: str, *, revision: str | None = None,
                        cache_dir: str | None = None, **kwargs) -> str:
        self.calls.append({"repo_id": repo_id, "filename": filename, "revision": revision, "cache_dir": cache_dir,
                           **kwargs})
        if not self.online:  # as huggingface_hub: the cached file of the revision, else LocalEntryNotFoundError
            repo = repo_dir(Path(cache_dir), repo_id)
            ref = repo / "refs" / (revision or "main")
            cached = repo / "snapshots" / (ref.read_text() if ref.is_file() else revision or "main") / filename
            if cached.is_file():
                return str(cached)
            raise self.LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub and we "
                                               "cannot find the requested files in the local cache.")
        if repo_id != self.repo_id:
            raise self.RepositoryNotFoundError(f"404 Client Error: Repository Not Found for url: {repo_id}")
        if revision not in ("main", self.commit):
            raise self.RepositoryNotFoundError(f"Revision Not Found for {repo_id}: {revision}")
        if filename not in self.files:
            raise self.EntryNotFoundError(f"404 Client Error: Entry Not Found: {filename}")
        repo = repo_dir(Path(cache_dir), repo_id)
        snapshot = repo / "snapshots" / self.commit
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "blobs").mkdir(exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(self.commit)
        return str(write_blob(repo, snapshot, filename, self.files[filename]))

    def install(self, monkeypatch) -> FakeHub:
        """Make ``import huggingface_hub`` (and ``huggingface_hub.utils``) find this fake."""
        module = types.ModuleType("huggingface_hub")
        utils = types.ModuleType("huggingface_hub.utils")
        module.hf_hub_download = self.hf_hub_download
        utils.EntryNotFoundError = self.EntryNotFoundError
        module.utils = utils
        monkeypatch.setitem(sys.modules, "huggingface_hub", module)
        monkeypatch.setitem(sys.modules, "huggingface_hub.utils", utils)
        return self

    @staticmethod
    def from_directory(repo_id: str, source: Path, commit: str = COMMIT, **extra: bytes) -> FakeHub:
        files = {f.name: f.read_bytes() for f in sorted(source.iterdir()) if f.is_file()}
        return FakeHub(repo_id, {**files, **extra}, commit)


def forbid_downloads(monkeypatch) -> None:
    """An installed ``huggingface_hub`` whose every download fails the test (for the offline paths)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"hf_hub_download was called: {args} {kwargs}")

    FakeHub("nobody/nothing", {}).install(monkeypatch)
    sys.modules["huggingface_hub"].hf_hub_download = refuse


def no_hub_package(monkeypatch) -> None:
    """``import huggingface_hub`` raises ImportError, as without the hub extra."""
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    monkeypatch.setitem(sys.modules, "huggingface_hub.utils", None)


HUB_ENV = ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE", "HF_HUB_CACHE",
           "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def use_cache(monkeypatch, cache: Path, offline: bool = True) -> Path:
    """Point the cache variables at ``cache`` only (and set HF_HUB_OFFLINE unless ``offline`` is False)."""
    for name in HUB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache
