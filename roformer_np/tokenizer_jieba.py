"""Chinese word segmentation for the RoFormer tokenizer: rjieba as Hugging Face calls it, jieba as fallback.

Hugging Face calls ``rjieba.cut(text, False)`` (HMM off). Python ``jieba`` with ``HMM=False`` uses the same
dictionary and gives the same cuts, so it serves when rjieba is not installed (with one warning).

Nothing here is stored on tokenizer instances: the segmenter is a module-level singleton looked up at call
time, which keeps tokenizers picklable (a module object cannot be pickled).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Callable

__all__ = ["cut", "get_cut", "backend_name", "use_backend"]

logger = logging.getLogger(__name__)

_SURROGATE = re.compile("([\ud800-\udfff])")
_CUT: Callable[[str], list[str]] | None = None
_BACKEND = ""


def _load(prefer: str) -> tuple[Callable[[str], list[str]], str]:
    if prefer != "jieba":
        try:
            import rjieba
        except ImportError:
            if prefer == "rjieba":
                raise
        else:
            rjieba_cut = rjieba.cut

            def cut_rjieba(text: str) -> list[str]:
                try:
                    return rjieba_cut(text, False)
                except UnicodeEncodeError:
                    # rjieba cannot take lone surrogates (Hugging Face raises here). Python jieba cuts each
                    # one as a word of its own, so do the same and segment the text between them.
                    words: list[str] = []
                    for part in _SURROGATE.split(text):
                        if not part:
                            continue
                        if _SURROGATE.fullmatch(part):
                            words.append(part)
                        else:
                            words.extend(rjieba_cut(part, False))
                    return words

            return cut_rjieba, "rjieba"
    try:
        import jieba
    except ImportError as err:
        raise ImportError(
            "RoFormerTokenizer needs a jieba segmenter: `pip install rjieba` (or the pure-Python `jieba`)."
        ) from err
    jieba.setLogLevel(logging.WARNING)  # jieba logs its dictionary loading at INFO on first use
    if prefer != "jieba":
        warnings.warn(
            "rjieba is not installed; RoFormerTokenizer falls back to the pure-Python jieba (HMM off), "
            "which gives the same cuts but is slower. `pip install rjieba` to silence this.",
            stacklevel=3,
        )
    jieba_cut = jieba.cut

    def cut_jieba(text: str) -> list[str]:
        return list(jieba_cut(text, HMM=False))

    return cut_jieba, "jieba"


def _ensure() -> Callable[[str], list[str]]:
    global _CUT, _BACKEND
    if _CUT is None:
        # ROFORMER_NP_JIEBA=jieba forces the fallback (for testing it); =rjieba forbids it.
        _CUT, _BACKEND = _load(os.environ.get("ROFORMER_NP_JIEBA", "auto").strip().lower())
    return _CUT


def cut(text: str) -> list[str]:
    """Segment ``text`` into words whose concatenation is ``text`` (whitespace comes back as words)."""
    return _ensure()(text)


def get_cut() -> Callable[[str], list[str]]:
    """The segmenting function itself, for hot loops that call it many times."""
    return _ensure()


def backend_name() -> str:
    """``"rjieba"`` or ``"jieba"``: the segmenter in use (loading it if needed)."""
    _ensure()
    return _BACKEND


def use_backend(name: str) -> None:
    """Switch segmenter (``"rjieba"``, ``"jieba"`` or ``"auto"``); used by tests of the fallback."""
    global _CUT, _BACKEND
    _CUT, _BACKEND = _load(name)
