"""Linux system calls the sandbox and the step processes need, through ctypes: ``mount``,
``prctl`` (subreaper, no-new-privileges), and finding and killing a process tree."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
from pathlib import Path

__all__ = [
    "MS_BIND",
    "MS_REC",
    "MS_RDONLY",
    "MS_REMOUNT",
    "MS_NOSUID",
    "MS_NODEV",
    "mount",
    "become_subreaper",
    "no_new_privileges",
    "descendants",
    "kill_tree",
]

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None = None, flags: int = 0) -> None:
    """``mount(2)``; raise :class:`OSError` naming the target."""
    result = _c().mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None, flags, None
    )
    _check(result, f"mount {target}")


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (``PR_SET_CHILD_SUBREAPER``), so
    that it can end them; return whether the system allowed it."""
    try:
        return int(_c().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def no_new_privileges() -> None:
    """No program this process runs may gain privileges (setuid binaries stay unprivileged)."""
    _check(_c().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def _parents() -> dict[int, int]:
    """Each live process's parent, from ``/proc/<pid>/stat`` (``/proc/<pid>/task/*/children``
    needs a kernel option that is often off). Zombies are left out: they have ended already."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(entry.path, "stat").read_text()
            # the command name may hold spaces and parentheses: fields start after the last ')'
            state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
            if state not in ("Z", "X"):
                out[int(entry.name)] = int(parent)
    return out


_PR_SET_KEEPCAPS = 8
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_CAP_VERSION_3 = 0x20080522
CAP_NET_BIND_SERVICE = 10


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def keep_capabilities() -> None:
    """Keep the permitted capabilities across the coming ``setuid`` (``PR_SET_KEEPCAPS``)."""
    _check(_c().prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")


def ambient_capability(cap: int) -> None:
    """Make ``cap`` the only capability of this (now unprivileged) process, and pass it on to
    the programs it runs (an ambient capability)."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = data[0].inheritable = 1 << cap
    _check(_c().capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _check(_c().prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap, 0, 0), "prctl(PR_CAP_AMBIENT)")


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first), read from ``/proc``."""
    kids: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        kids.setdefault(parent, []).append(child)
    out: list[int] = []
    frontier = [pid]
    while frontier:
        found = kids.get(frontier.pop(), [])
        out += found
        frontier += found
    return out


def _has_children() -> bool:
    """Whether this process has a child still running (finished ones are reaped meanwhile)."""
    while True:
        try:
            child, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if child == 0:
            return True


def kill_tree(pid: int, *, include_self: bool = True) -> int:
    """SIGKILL ``pid`` and every descendant, whatever their session or process group; repeat
    until none is left (a process may fork while the tree is being killed). Return how many
    processes were signalled."""
    if pid == os.getpid() and not include_self and not _has_children():
        return 0  # no child, so no descendant: a subreaper adopts its orphans (no /proc scan)
    killed = 0
    targets = [pid] if include_self else []  # signalled once: a killed pid may be reused
    targets += descendants(pid)
    for _ in range(20):
        for target in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, signal.SIGKILL)
                killed += 1
        targets = descendants(pid)
        if not targets:
            break
    return killed
