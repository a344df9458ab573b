"""OS-level confinement of a sandbox process, applied once, after imports, before any handler.

Layers, each holding on its own: resource limits (memory, CPU, no files, no processes), no
network (a network namespace of its own when paybridge runs as root), an unprivileged user,
and a seccomp filter that refuses sockets, exec, fork and tracing. What could be applied is
reported back to the parent, so `paybridge` can say which layers are in force.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
from typing import Any

NOBODY = 65534
CPU_HARD_LIMIT_S = 3600
MAX_OPEN_FILES = 8
CLONE_NEWNET = 0x40000000
# A process that has grown past its start by this share of the memory limit is replaced.
LEFTOVER_FRACTION = 0.25
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_started = {"address_space": 0}
# Kept open: one pread per run reads the process's size, where an open would cost three calls.
_statm = {"fd": -1}
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000

DENIED_SYSCALLS = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "execve", "execveat", "fork", "vfork", "clone", "clone3",
    "ptrace", "process_vm_readv", "process_vm_writev", "kill", "tkill", "tgkill",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "open_by_handle_at", "name_to_handle_at", "personality", "memfd_create",
)  # fmt: skip


def confine(memory_mb: int) -> dict[str, Any]:
    """Apply every layer that this machine allows; return which ones are in force."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    seccomp_lib = _load_seccomp()
    _limit_resources(memory_mb)
    network_namespace = _unshare_network(libc)
    unprivileged = _drop_privileges()
    seccomp = seccomp_lib is not None and _install_seccomp(seccomp_lib)
    return {
        "rlimits": True,
        "network_namespace": network_namespace,
        "unprivileged_user": unprivileged,
        "seccomp": seccomp,
    }


def set_cpu_budget(seconds: float) -> None:
    """Let the next run use at most `seconds` more CPU time before the kernel stops it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = min(CPU_HARD_LIMIT_S, int(used + seconds) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, CPU_HARD_LIMIT_S))


def memory_left_behind(memory_mb: int) -> bool:
    """Whether the process's address space has grown past its start by more than
    LEFTOVER_FRACTION of a run's memory limit: memory an earlier run left behind (in a cache of
    the process, or fragmented) is memory the next run, maybe another integration's, cannot
    have under RLIMIT_AS."""
    grown = _address_space() - _started["address_space"]
    return grown > memory_mb * 1024 * 1024 * LEFTOVER_FRACTION


def _limit_resources(memory_mb: int) -> None:
    _started["address_space"] = _address_space()
    limit = _started["address_space"] + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_HARD_LIMIT_S, CPU_HARD_LIMIT_S))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _address_space() -> int:
    """VmSize, what RLIMIT_AS limits: the first field of /proc/self/statm, in pages."""
    if _statm["fd"] < 0:
        _statm["fd"] = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
    return int(os.pread(_statm["fd"], 128, 0).split()[0]) * _PAGE_BYTES


def _unshare_network(libc: ctypes.CDLL) -> bool:
    if os.geteuid() != 0:
        return False
    return bool(libc.unshare(CLONE_NEWNET) == 0)


def _drop_privileges() -> bool:
    """Become `nobody`, who can read none of paybridge's files; only root can change user."""
    if os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    return True


def _load_seccomp() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return None


def _install_seccomp(lib: ctypes.CDLL) -> bool:
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]

    context = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        return False
    try:
        deny = SCMP_ACT_ERRNO | errno.EPERM
        for syscall in DENIED_SYSCALLS:
            number = lib.seccomp_syscall_resolve_name(syscall.encode())
            if number >= 0 and lib.seccomp_rule_add(context, deny, number, 0) != 0:
                return False
        return bool(lib.seccomp_load(context) == 0)
    finally:
        lib.seccomp_release(context)
