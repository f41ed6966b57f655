"""Batches as Ray Data and Dask hand them over: pandas DataFrames, dicts of NumPy arrays, Arrow tables.

Reading a column gives Python values; adding result columns gives a batch of the same type with the input
columns untouched and in place. pandas and pyarrow are only touched when the batch is one of theirs (a
DataFrame cannot exist unless pandas was imported), so the NumPy format needs neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._extras import loaded, require
from .columns import Column

FORMATS = ("pandas", "numpy", "pyarrow")


def batch_format(batch: Any) -> str:
    pd = loaded("pandas")
    if pd is not None and isinstance(batch, pd.DataFrame):
        return "pandas"
    pa = loaded("pyarrow")
    if pa is not None and isinstance(batch, pa.Table):
        return "pyarrow"
    if isinstance(batch, Mapping):
        return "numpy"
    raise TypeError(f"a batch must be a pandas DataFrame, a dict of NumPy arrays or a pyarrow Table, got "
                    f"{type(batch).__name__}")


def column_names(batch: Any, fmt: str) -> list[str]:
    if fmt == "pyarrow":
        return list(batch.column_names)
    return [str(c) for c in (batch.columns if fmt == "pandas" else batch.keys())]


def read_column(batch: Any, fmt: str, name: str) -> list[Any]:
    """The column's values as Python objects (missing values as None or NaN)."""
    if name not in column_names(batch, fmt):
        raise ValueError(f"the batch has no column {name!r} (columns: {column_names(batch, fmt)}); set "
                         "text_column= / text_pair_column=")
    if fmt == "pyarrow":
        return batch.column(name).to_pylist()
    values = batch[name]
    return values.tolist() if fmt == "pandas" else list(np.asarray(values, dtype=object))


def check_free(batch: Any, fmt: str, names: list[str]) -> None:
    clash = [n for n in names if n in set(column_names(batch, fmt))]
    if clash:
        raise ValueError(f"the batch already has column(s) {clash}; rename them or set output_column=")


# -- writing -----------------------------------------------------------------------------------------------------
def _object_array(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # element by element: equal-length lists must not become a 2-D array
        out[i] = v
    return out


def _numpy_column(column: Column, values: list) -> np.ndarray:
    if column.kind == "str":
        return _object_array(values)
    if column.kind in ("float", "int"):
        return np.asarray(values, dtype=np.float64 if column.kind == "float" else np.int64)
    if column.kind == "vector" and values:
        return np.stack(values)  # [rows, hidden]
    return _object_array(values)


def _pandas_column(pd: Any, column: Column, values: list, index: Any) -> Any:
    if column.kind == "str":
        return pd.Series(values, index=index, dtype=pd.Series(["x"]).dtype)  # pandas' default str dtype
    if column.kind in ("float", "int"):
        return pd.Series(np.asarray(values, dtype=np.float64 if column.kind == "float" else np.int64), index=index)
    return pd.Series(_object_array(values), index=index, dtype=object)


def _arrow_column(pa: Any, column: Column, values: list) -> Any:
    if column.kind == "str":
        return pa.array(values, type=pa.string())
    if column.kind in ("float", "int"):
        return pa.array(values, type=pa.float64() if column.kind == "float" else pa.int64())
    if column.kind == "vector":
        width = len(values[0]) if values else 0
        flat = np.concatenate([np.asarray(v, dtype=np.float32) for v in values]) if values else np.zeros(0, np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float32()), width)
    if column.kind == "array":  # ragged [tokens, hidden] per row: list<fixed_size_list<float32>>
        width = values[0].shape[1] if values else 0
        rows = np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1) for v in values]) if values else \
            np.zeros(0, np.float32)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(rows, type=pa.float32()), width)
        offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), vectors)
    arrow_type = column.arrow(pa) if column.arrow is not None else None
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {column.name!r}: these results do not fit one Arrow type ({exc}); use "
                         "batch_format='pandas' or 'numpy'") from None


def add_columns(batch: Any, fmt: str, columns: tuple[Column, ...], values: dict[str, list]) -> Any:
    """A new batch of the same type: the input columns, then the result columns (row order kept)."""
    check_free(batch, fmt, [c.name for c in columns])
    if fmt == "pandas":
        pd = require("pandas")
        new = {c.name: _pandas_column(pd, c, values[c.name], batch.index) for c in columns}
        return pd.concat([batch, pd.DataFrame(new, index=batch.index)], axis=1)
    if fmt == "pyarrow":
        pa = require("pyarrow")
        table = batch
        for c in columns:
            table = table.append_column(c.name, _arrow_column(pa, c, values[c.name]))
        return table
    out = dict(batch)
    for c in columns:
        out[c.name] = _numpy_column(c, values[c.name])
    return out
