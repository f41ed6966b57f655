"""A restricted pickle virtual machine: the opcodes ``torch.save`` writes, nothing else, under hard limits.

Python's C unpickler cannot be bounded from outside: it grows its memo to any index a file names, recurses
in C when it hashes a deeply nested key, and lets ``BUILD`` set attributes on whatever ``find_class``
returned. This module interprets the pickle itself, like torch's ``weights_only`` unpickler (the same opcode
subset), so every rule is checked before anything is built:

* globals are looked up in the caller's allow-list and pushed as immutable :class:`Global` tokens;
  ``REDUCE`` hands a token and its argument tuple to the caller's ``call`` — no other code runs;
* ``BUILD`` applies only to dicts this machine made (a ``state_dict``'s ``_metadata``), and is discarded;
* dict keys are ``str`` or ``int``, checked as each item is set; containers nest at most :data:`MAX_DEPTH`
  levels and cannot change once they are inside another one (so the depth measured at insertion stays
  true, and no cycle can form);
* at most :data:`MAX_OPS` opcodes run; memo indices never exceed the number of ``PUT`` opcodes seen (the
  memo is a dict, so an index allocates nothing); strings are bounded by the bytes that hold them.

Nothing recurses, so no input can exhaust the C stack; every refusal is a :class:`CheckpointError`.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable, Container
from typing import Any

from .errors import CheckpointError

MAX_OPS = 1_000_000  # ~30 opcodes per tensor in torch.save's pickles: ~30,000 tensors
MAX_DEPTH = 64  # a state dict nests 4 deep (dict -> _metadata -> module -> version)
MAX_GLOBAL_NAME = 256

_MUTABLE = (list, dict, OrderedDict, set)
_CONTAINERS = (tuple, *_MUTABLE)
_DICTS = (dict, OrderedDict)


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle asks for a global that a state dict never needs: refused, nothing ran."""


class Global:
    """An allowed global named by the pickle: an immutable token, never the object it names."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise CheckpointError(f"the checkpoint tries to modify {self}")

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class _Mark:
    """The stack separator pushed by MARK (never visible to the caller)."""


class _Machine:
    def __init__(self, data: bytes, allowed: Container[tuple[str, str]], call: Callable[[Global, tuple], Any],
                 persistent_load: Callable[[Any], Any]) -> None:
        self.data, self.pos = memoryview(data), 0
        self.allowed, self.call, self.persistent_load = allowed, call, persistent_load
        self.stack: list[Any] = []
        self.marks: list[int] = []  # stack heights at each open MARK
        self.memo: dict[int, Any] = {}
        self.puts = 0
        # containers deeper than 1 and containers placed inside another, by id (kept alive so ids stay unique)
        self.depths: dict[int, tuple[Any, int]] = {}
        self.sealed: dict[int, Any] = {}

    # --- reading the byte stream ---
    def read(self, n: int) -> memoryview:
        if n > len(self.data) - self.pos:
            raise CheckpointError(f"pickle is truncated at byte {self.pos} (needs {n} more bytes)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def readline(self) -> str:
        end = bytes(self.data[self.pos : self.pos + MAX_GLOBAL_NAME + 1]).find(b"\n")
        if end < 0:
            raise CheckpointError(f"pickle names a global longer than {MAX_GLOBAL_NAME} bytes or is truncated")
        line = self.read(end + 1)[:-1]
        try:
            return bytes(line).decode("ascii")
        except UnicodeDecodeError:
            raise CheckpointError("pickle names a global that is not ASCII") from None

    def text(self, n: int) -> str:
        try:
            return str(self.read(n), "utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"pickle holds a string that is not UTF-8 ({exc.reason})") from None

    # --- the stack ---
    def pop(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise CheckpointError("pickle pops an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise CheckpointError("pickle reads an empty stack")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise CheckpointError("pickle closes a MARK it never opened")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    # --- containers: depth and sealing ---
    def depth(self, obj: Any) -> int:
        if type(obj) not in _CONTAINERS:
            return 0
        entry = self.depths.get(id(obj))
        return entry[1] if entry is not None else 1

    def insert(self, container: Any, items: list[Any]) -> None:
        """Account for ``items`` going into ``container`` (before the insertion happens)."""
        if id(container) in self.sealed:
            raise CheckpointError("pickle modifies a container after placing it inside another one")
        deepest = self.depth(container)
        for item in items:
            if item is container:
                raise CheckpointError("pickle places a container inside itself")
            if type(item) in _CONTAINERS:
                deepest = max(deepest, self.depth(item) + 1)
                if type(item) in _MUTABLE:
                    self.sealed[id(item)] = item
        if deepest > MAX_DEPTH:
            raise CheckpointError(f"pickle nests containers deeper than {MAX_DEPTH} levels")
        if deepest > 1:
            self.depths[id(container)] = (container, deepest)

    def new_tuple(self, items: list[Any]) -> tuple:
        result = tuple(items)
        self.insert(result, items)
        return result

    def set_items(self, items: list[Any]) -> None:
        target = self.top()
        if type(target) not in _DICTS:
            raise CheckpointError(f"pickle sets items on a {type(target).__name__}, not a dict")
        if len(items) % 2:
            raise CheckpointError("pickle sets a key without a value")
        keys = items[0::2]
        for key in keys:
            if type(key) not in (str, int):
                raise CheckpointError(f"pickle uses a {type(key).__name__} as a dict key (only str or int)")
        self.insert(target, items[1::2])
        target.update(zip(keys, items[1::2]))

    def append_items(self, items: list[Any]) -> None:
        target = self.top()
        if type(target) is not list:
            raise CheckpointError(f"pickle appends to a {type(target).__name__}, not a list")
        self.insert(target, items)
        target.extend(items)

    # --- the machine ---
    def run(self) -> Any:
        read, push = self.read, self.stack.append
        for _ in range(MAX_OPS):
            op = read(1)[0]
            if op == 0x80:  # PROTO
                if read(1)[0] > 5:
                    raise CheckpointError("pickle protocol is newer than 5")
            elif op == 0x63:  # GLOBAL
                module, name = self.readline(), self.readline()
                if (module, name) not in self.allowed:
                    raise UnsafeCheckpointError(
                        f"refusing to load global {module}.{name} from the checkpoint: a weights file never "
                        "needs it (it may be malicious); nothing was executed"
                    )
                push(Global(module, name))
            elif op == 0x52:  # REDUCE
                args, func = self.pop(), self.top()
                if type(func) is not Global or type(args) is not tuple:
                    raise CheckpointError(f"pickle calls a {type(func).__name__}, not an allowed global")
                self.stack[-1] = self.call(func, args)
            elif op == 0x62:  # BUILD: a state dict's _metadata, which nothing here needs
                state, target = self.pop(), self.top()
                if type(target) not in _DICTS or type(state) not in _DICTS:
                    raise CheckpointError(f"pickle sets the state of a {type(target).__name__}; only a dict's "
                                          "metadata may be set")
            elif op == 0x51:  # BINPERSID
                push(self.persistent_load(self.pop()))
            elif op == 0x28:  # MARK
                if len(self.marks) >= MAX_DEPTH:
                    raise CheckpointError(f"pickle opens more than {MAX_DEPTH} nested MARKs")
                self.marks.append(len(self.stack))
            elif op == 0x74:  # TUPLE
                push(self.new_tuple(self.pop_mark()))
            elif op in (0x85, 0x86, 0x87):  # TUPLE1, TUPLE2, TUPLE3
                items = [self.pop() for _ in range(op - 0x84)][::-1]
                push(self.new_tuple(items))
            elif op == 0x29:  # EMPTY_TUPLE
                push(())
            elif op == 0x5D:  # EMPTY_LIST
                push([])
            elif op == 0x7D:  # EMPTY_DICT
                push({})
            elif op == 0x8F:  # EMPTY_SET
                push(set())
            elif op == 0x73:  # SETITEM
                value = self.pop()
                self.set_items([self.pop(), value])
            elif op == 0x75:  # SETITEMS
                self.set_items(self.pop_mark())
            elif op == 0x61:  # APPEND
                self.append_items([self.pop()])
            elif op == 0x65:  # APPENDS
                self.append_items(self.pop_mark())
            elif op == 0x4E:  # NONE
                push(None)
            elif op == 0x88:  # NEWTRUE
                push(True)
            elif op == 0x89:  # NEWFALSE
                push(False)
            elif op == 0x4A:  # BININT
                push(struct.unpack("<i", read(4))[0])
            elif op == 0x4B:  # BININT1
                push(read(1)[0])
            elif op == 0x4D:  # BININT2
                push(struct.unpack("<H", read(2))[0])
            elif op == 0x8A:  # LONG1
                push(int.from_bytes(read(read(1)[0]), "little", signed=True))
            elif op == 0x47:  # BINFLOAT
                push(struct.unpack(">d", read(8))[0])
            elif op == 0x58:  # BINUNICODE
                push(self.text(struct.unpack("<I", read(4))[0]))
            elif op == 0x55:  # SHORT_BINSTRING (decoded, as torch.load does)
                push(self.text(read(1)[0]))
            elif op in (0x71, 0x72):  # BINPUT, LONG_BINPUT
                index = read(1)[0] if op == 0x71 else struct.unpack("<I", read(4))[0]
                if index > self.puts:  # pickle numbers its memo 0, 1, 2… as it goes
                    raise CheckpointError(f"pickle memo index {index} is beyond the {self.puts} PUTs seen")
                self.memo[index] = self.top()
                self.puts += 1
            elif op in (0x68, 0x6A):  # BINGET, LONG_BINGET
                index = read(1)[0] if op == 0x68 else struct.unpack("<I", read(4))[0]
                if index not in self.memo:
                    raise CheckpointError(f"pickle reads memo entry {index}, which was never stored")
                push(self.memo[index])
            elif op == 0x2E:  # STOP
                if self.marks or len(self.stack) != 1:
                    raise CheckpointError("pickle stops with an unfinished stack")
                return self.stack[0]
            else:
                raise CheckpointError(f"pickle opcode {bytes([op])!r} at byte {self.pos - 1} is not one a "
                                      "state dict uses (torch's weights-only loader refuses it too)")
        raise CheckpointError(f"pickle runs more than {MAX_OPS} opcodes")


def restricted_load(data: bytes, allowed: Container[tuple[str, str]], call: Callable[[Global, tuple], Any],
                    persistent_load: Callable[[Any], Any]) -> Any:
    """The object a pickle describes, built by the restricted machine above.

    ``allowed`` holds the ``(module, name)`` globals the pickle may name; ``call(global, args)`` implements
    ``REDUCE`` on them and ``persistent_load(pid)`` implements ``BINPERSID`` — both supplied by the caller,
    who validates their arguments. Any rule broken raises :class:`CheckpointError` (or
    :class:`UnsafeCheckpointError` for a global outside ``allowed``) before it takes effect.
    """
    return _Machine(data, allowed, call, persistent_load).run()
