"""Hub ids: ``from_pretrained("owner/name")`` resolved to a local checkpoint directory, as in transformers.

A path that exists is used as it is. Any other name shaped like a Hub repository id is looked up in the
Hugging Face cache exactly as ``huggingface_hub`` lays it out (``<cache>/models--owner--name/refs/<revision>``
holds a commit hash, ``snapshots/<commit>/`` the files), which needs no extra package and no network. When the
cached snapshot lacks a file the checkpoint needs and downloads are allowed -- ``huggingface_hub`` installed
(the ``hub`` extra), ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` not set, ``local_files_only=False`` --
only the needed files are fetched with ``huggingface_hub.hf_hub_download`` into that same cache, in
transformers' order (``model.safetensors``, its shard index, then ``pytorch_model.bin`` and its index).

Unlike transformers, a snapshot that already holds every needed file is used without asking the Hub whether
the branch moved on (no network round trip per load); ``force_download=True`` fetches the files again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .weights import CheckpointError, read_shard_index

PathLike = Union[str, "os.PathLike[str]"]

# huggingface_hub.utils._validators.REPO_ID_REGEX (plus its "--", "..", ".git" and one-slash rules)
_REPO_ID = re.compile(r"^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$")
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub.constants.ENV_VARS_TRUE_VALUES
DEFAULT_REVISION = "main"
# transformers.utils.hub's legacy variables come first, then huggingface_hub.constants' HF_HUB_CACHE chain
_CACHE_VARIABLES = ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE",
                    "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")
# the keywords of transformers' from_pretrained that locate files on the Hub; resolve_checkpoint takes them all
HUB_KWARGS = ("revision", "cache_dir", "local_files_only", "token", "force_download")
# keywords transformers users pass that this package does not implement: refused rather than ignored
UNSUPPORTED_HUB_KWARGS = ("subfolder", "proxies", "resume_download", "use_auth_token", "trust_remote_code",
                          "code_revision", "gguf_file")
EXTRA_HINT = "pip install 'roformer_np[hub]'"


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint name is neither a local path nor a repository found in the cache (or on the Hub).

    Both a :class:`ValueError` (as :class:`CheckpointError`) and a :class:`FileNotFoundError` (an
    ``OSError``, which transformers raises for the same miss), so existing handlers of either catch it.
    """


@dataclass(frozen=True)
class CheckpointFiles:
    """The files one ``from_pretrained`` reads: each required entry lists alternatives in order of
    preference (the first one available is used, as the loader picks it); optional files are taken if there."""

    required: tuple[tuple[str, ...], ...] = ()
    optional: tuple[str, ...] = ()

    def __add__(self, other: CheckpointFiles) -> CheckpointFiles:
        optional = tuple(dict.fromkeys(self.optional + other.optional))
        return CheckpointFiles(self.required + other.required, optional)


# ---------------------------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------------------------
def is_repo_id(name: str) -> bool:
    """Whether ``name`` passes huggingface_hub's ``validate_repo_id`` ("name" or "namespace/name")."""
    return (isinstance(name, str) and name.count("/") <= 1 and bool(_REPO_ID.match(name))
            and "--" not in name and ".." not in name and not name.endswith(".git"))


def _is_true(value: str | None) -> bool:
    return value is not None and value.upper() in _TRUE


def offline_mode(environ: Mapping[str, str] = os.environ) -> bool:
    """``HF_HUB_OFFLINE`` (else ``TRANSFORMERS_OFFLINE``), parsed as huggingface_hub parses it."""
    return _is_true(environ.get("HF_HUB_OFFLINE") or environ.get("TRANSFORMERS_OFFLINE"))


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def hub_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The cache transformers uses: its legacy variables, ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``,
    ``HF_HOME``/hub, ``XDG_CACHE_HOME``/huggingface/hub, then ``~/.cache/huggingface/hub``."""
    for name in _CACHE_VARIABLES:
        if environ.get(name):
            return Path(_expand(environ[name]))
    xdg = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = environ.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(_expand(home)) / "hub"


def _safe_revision(revision: str) -> bool:
    """A branch or tag name (``refs/pr/1`` included) that stays inside ``refs/``: no absolute path, ``..``."""
    parts = revision.split("/")
    return (bool(revision) and "\\" not in revision and "\0" not in revision and not os.path.isabs(revision)
            and all(p not in ("", ".", "..") for p in parts))


def pop_hub_kwargs(kwargs: dict[str, Any], where: str, strict: bool = False) -> dict[str, Any]:
    """Take the Hub keywords out of ``kwargs`` and refuse the unsupported ones (TypeError); ``strict``: the
    caller takes no other keyword, so any left is refused too, as Python refuses an unexpected keyword."""
    for name in UNSUPPORTED_HUB_KWARGS:
        if name in kwargs:
            raise TypeError(f"{where}: {name}= is not supported by roformer_np (supported: {', '.join(HUB_KWARGS)})")
    hub = {name: kwargs.pop(name) for name in HUB_KWARGS if name in kwargs}
    if strict and kwargs:
        raise TypeError(f"{where}() got an unexpected keyword argument {next(iter(kwargs))!r}")
    return hub


def pin_revision(hub: dict[str, Any], name_or_path: PathLike, directory: Path) -> dict[str, Any]:
    """``hub`` with ``revision`` set to the commit of ``directory`` when it is the cache snapshot that
    ``name_or_path`` resolved to, so the next files are read from the same commit (transformers'
    ``_commit_hash``)."""
    if directory == Path(name_or_path) or directory.parent.name != "snapshots":
        return hub
    return {**hub, "revision": directory.name}


# ---------------------------------------------------------------------------------------------
# The cache, read without huggingface_hub
# ---------------------------------------------------------------------------------------------
def _snapshot(repo_dir: Path, revision: str, tried: list[str]) -> Path | None:
    """``snapshots/<commit>`` of ``revision`` (a name in ``refs/`` or a commit hash), as
    ``huggingface_hub.try_to_load_from_cache`` finds it; ``tried`` collects what was looked at."""
    if not repo_dir.is_dir():
        tried.append(f"{repo_dir} (no such directory)")
        return None
    commit = revision
    ref = repo_dir / "refs" / revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        tried.append(f"{ref} -> {commit}")
    else:
        tried.append(f"{ref} (no such branch or tag; taken as a commit hash)")
    snapshots = repo_dir / "snapshots"
    # membership in the listing (not a joined path) keeps a hostile ref file inside snapshots/
    if snapshots.is_dir() and commit in os.listdir(snapshots) and (snapshots / commit).is_dir():
        return snapshots / commit
    tried.append(f"{snapshots / commit} (missing)")
    return None


def _shards(index_file: Path) -> list[str]:
    """Shard names listed by a ``*.index.json`` (validated by :func:`~roformer_np.weights.read_shard_index`)."""
    return sorted(set(read_shard_index(index_file).values()))


def _missing_in(snapshot: Path, files: CheckpointFiles, repo_dir: Path) -> tuple[list[str], list[str]]:
    """(required files the snapshot lacks, optional files neither there nor known to be absent)."""
    missing = []
    for group in files.required:
        present = next((name for name in group if (snapshot / name).is_file()), None)
        if present is None:
            missing.append(" or ".join(group))
        elif present.endswith(".index.json"):
            missing += [s for s in _shards(snapshot / present) if not (snapshot / s).is_file()]
    no_exist = repo_dir / ".no_exist" / snapshot.name  # huggingface_hub records files the Hub lacks there
    unknown = [n for n in files.optional if not (snapshot / n).is_file() and not (no_exist / n).is_file()]
    return missing, unknown


# ---------------------------------------------------------------------------------------------
# Downloads (huggingface_hub, optional)
# ---------------------------------------------------------------------------------------------
def _hub_api() -> tuple[Any, type] | None:
    """(hf_hub_download, EntryNotFoundError) when huggingface_hub is installed, else None."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    try:  # newer releases define it in errors, older ones in utils only
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:
        from huggingface_hub.utils import EntryNotFoundError
    return hf_hub_download, EntryNotFoundError


def _download(repo_id: str, files: CheckpointFiles, revision: str, cache_dir: Path, token: Any,
              force_download: bool, api: tuple[Any, type]) -> Path:
    """Fetch the needed files into the cache; every file comes from one commit (that of the first)."""
    hf_hub_download, entry_not_found = api
    from . import __version__

    unreachable: list[str] = []  # neither reachable nor cached: huggingface_hub's LocalEntryNotFoundError

    def fetch(name: str) -> Path | None:
        """The file's path in the cache, or None when the Hub lacks it (or cannot be reached)."""
        nonlocal revision
        try:
            path = Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=str(cache_dir), token=token,
                                        force_download=force_download, library_name="roformer_np",
                                        library_version=__version__))
        except entry_not_found as exc:
            if isinstance(exc, FileNotFoundError):  # LocalEntryNotFoundError: no connection, and not cached
                unreachable.append(f"{name}: {' '.join(str(exc).split())}")
            return None  # as transformers, an optional file that cannot be had is skipped
        except (OSError, ValueError) as exc:  # no such repo or revision, gated, bad id
            raise CheckpointNotFoundError(f"cannot download {name} of {repo_id!r} (revision {revision!r}): "
                                          f"{' '.join(str(exc).split())}") from exc
        revision = path.parent.name  # pin the commit: a branch moving on cannot mix two versions
        return path

    snapshot = None
    for group in files.required:
        for name in group:
            path = fetch(name)
            if path is not None:
                break
        else:
            if unreachable:
                raise CheckpointNotFoundError(f"cannot download {' or '.join(group)} of {repo_id!r} (revision "
                                              f"{revision!r}): {unreachable[-1]}")
            raise CheckpointNotFoundError(f"{repo_id!r} (revision {revision!r}) has none of {', '.join(group)} "
                                          "on the Hub")
        snapshot = path.parent
        if name.endswith(".index.json"):
            for shard in _shards(path):
                if fetch(shard) is None:
                    why = unreachable[-1] if unreachable else "not on the Hub"
                    raise CheckpointNotFoundError(f"{repo_id!r}: shard {shard} listed in {name}: {why}")
    for name in files.optional:
        path = fetch(name)
        snapshot = snapshot or (path.parent if path is not None else None)
    if snapshot is None:
        raise CheckpointNotFoundError(f"{repo_id!r} (revision {revision!r}) has none of the files needed")
    return snapshot


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------
def resolve_checkpoint(
    name_or_path: PathLike,
    files: CheckpointFiles,
    *,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
) -> Path:
    """The local directory (or file) of a checkpoint given as a path or a Hub repository id.

    An existing path is returned as it is, and so is a missing path that cannot be a repository id (the
    caller then reports it as today). A repository id resolves to its cached snapshot of ``revision``
    (branch, tag or commit hash; default ``main``) when that holds ``files``; otherwise the files are
    downloaded if allowed. A miss raises :class:`CheckpointNotFoundError` naming every place looked at.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"expected a path or a Hub repository id, got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    name = os.fspath(name_or_path)
    if path.exists() or not is_repo_id(name):
        return path
    revision = DEFAULT_REVISION if revision is None else revision
    if not isinstance(revision, str) or not _safe_revision(revision):
        raise ValueError(f"revision must be a branch, tag or commit hash (a str without '..', '\\' or a "
                         f"leading '/'), got {revision!r}")
    for flag, value in (("local_files_only", local_files_only), ("force_download", force_download)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False, got {value!r}")
    cache = Path(_expand(os.fspath(cache_dir))) if cache_dir is not None else hub_cache_dir()
    repo_dir = cache / ("models--" + name.replace("/", "--"))
    tried = [f"{path.resolve()} (not a local directory)"]
    if not force_download:
        snapshot = _snapshot(repo_dir, revision, tried)
        if snapshot is not None:
            missing, unknown = _missing_in(snapshot, files, repo_dir)
            if not missing and not unknown:
                return snapshot
            tried += [f"{snapshot / m} (missing)" for m in missing]
    else:
        missing, unknown, snapshot = [], [], None
    api = None if local_files_only or offline_mode() else _hub_api()
    if api is not None:
        return _download(name, files, revision, cache, token, force_download, api)
    if snapshot is not None and not missing:
        return snapshot  # offline: optional files not cached are simply absent
    if local_files_only:
        why = "local_files_only=True forbids downloading it"
    elif offline_mode():
        why = "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids downloading it; unset it to download"
    else:
        why = f"downloading it needs huggingface_hub ({EXTRA_HINT})"
    if force_download and api is None:
        why = f"force_download=True, but {why}"
    raise CheckpointNotFoundError(
        f"{name!r} is neither a local path nor a checkpoint in the Hugging Face cache (revision {revision!r}); "
        f"looked at: {'; '.join(tried)}. Not downloaded: {why}; or pass the path of a checkpoint directory."
    )
