"""What a process holds, read from Linux's /proc: its memory (RSS, PSS, per mapped weight file) and its sockets.

Used to check that workers on one node share the memory-mapped weights and that a local cluster listens on
loopback only. Linux only; no third-party module.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

KB = 1024


def _kb_fields(path: Path) -> dict[str, int]:
    """``Name:   123 kB`` lines as bytes."""
    out = {}
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0]) * KB
    return out


def process_memory(pid: int | str = "self") -> dict[str, int]:
    """Bytes: ``rss`` (VmRSS), ``rss_anon`` (private heap and copies), ``rss_file`` (mapped files, shared or
    not), ``pss`` (proportional set size: a page shared by n processes counts 1/n), ``pss_anon``, ``pss_file``."""
    status = _kb_fields(Path(f"/proc/{pid}/status"))
    rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup"))
    return {"rss": status["VmRSS"], "rss_anon": status.get("RssAnon", 0), "rss_file": status.get("RssFile", 0),
            "pss": rollup.get("Pss", 0), "pss_anon": rollup.get("Pss_Anon", 0),
            "pss_file": rollup.get("Pss_File", 0)}


def mapped_files(pid: int | str = "self", suffix: str = ".safetensors") -> dict[str, dict[str, int]]:
    """Per mapped file whose name ends with ``suffix``: bytes resident (``rss``), proportional (``pss``),
    resident pages that other processes map too (``shared``) and that only this one maps (``private``)."""
    out: dict[str, dict[str, int]] = {}
    current = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:  # a mapping's header line
            name = head[5] if len(head) == 6 else ""
            current = out.setdefault(name, {"rss": 0, "pss": 0, "shared": 0, "private": 0}) \
                if name.endswith(suffix) else None
            continue
        if current is None:
            continue
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) != 2 or parts[1] != "kB":
            continue
        value = int(parts[0]) * KB
        if key in ("Rss", "Pss"):
            current[key.lower()] += value
        elif key in ("Shared_Clean", "Shared_Dirty"):
            current["shared"] += value
        elif key in ("Private_Clean", "Private_Dirty"):
            current["private"] += value
    return out


# -- sockets -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Socket:
    pid: int
    command: str
    proto: str  # tcp, tcp6, udp, udp6
    state: str  # LISTEN, ESTABLISHED, … (udp: UNCONN / ESTABLISHED)
    local: str
    local_port: int
    remote: str
    remote_port: int


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
              "0B": "CLOSING"}


def _address(hex_address: str) -> tuple[str, int]:
    """/proc/net/tcp's ``0100007F:1F90`` (host byte order words) -> ("127.0.0.1", 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is little-endian
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(port, 16)


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def descendants(pid: int) -> set[int]:
    """``pid`` and every live process below it (by parent links in /proc/<p>/stat)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in found]
        found.update(children)
        frontier.extend(children)
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:  # the process ended meanwhile
        pass
    return inodes


def sockets(pids: set[int]) -> list[Socket]:
    """Every TCP and UDP socket (IPv4 and IPv6) that one of ``pids`` holds open."""
    owner: dict[str, int] = {}
    for pid in pids:
        for inode in _socket_inodes(pid):
            owner.setdefault(inode, pid)
    out = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            inode = fields[9]
            if inode not in owner:
                continue
            local, local_port = _address(fields[1])
            remote, remote_port = _address(fields[2])
            if proto.startswith("tcp"):
                state = TCP_STATES.get(fields[3], fields[3])
            else:
                state = "ESTABLISHED" if fields[3] == "01" else "UNCONN"
            pid = owner[inode]
            try:
                command = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                command = "?"
            out.append(Socket(pid, command, proto, state, local, local_port, remote, remote_port))
    return out


def non_loopback(found: list[Socket]) -> list[Socket]:
    """The sockets bound to (listening / UDP) or connected to an address off the loopback range."""
    bad = []
    for s in found:
        listening = s.state in ("LISTEN", "UNCONN")
        if not is_loopback(s.local) or (not listening and not is_loopback(s.remote)):
            bad.append(s)
    return bad
