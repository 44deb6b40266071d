"""One owner per folder: a run or search folder is held by one evopose process at a time.

`hold_folder(path)` takes an exclusive `fcntl.flock` on `path/.evopose.lock` for a block, and
`claim_folder(path)` for the rest of the process; either writes the holder's pid into the file,
and removes the file when it lets go, so a finished folder holds no lock file. The kernel drops
the lock when the holder exits in any way (SIGKILL included), so a lock file left by a killed
run never blocks a rerun; a second process that asks while the holder lives
is refused at once with one line naming the folder and the pid. Where `fcntl` is missing
(Windows) folders are not locked.

`free_folder(path)` is for a folder only a process of an earlier, killed run can hold (a
candidate's folder inside a search folder this process holds): it ends that holder (a worker
stuck when its search was killed) and waits until the folder is free.
"""

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from evopose.errors import EvoposeError

log = logging.getLogger(__name__)

LOCK_NAME = ".evopose.lock"
"""The lock file inside a held folder (ignored when deciding whether a folder is empty)."""


ORPHAN_GRACE_SECONDS = 10.0
"""How long `free_folder` lets a holder end after SIGTERM before it sends SIGKILL."""


class FolderBusyError(EvoposeError):
    """Another live evopose process holds the folder (`pid`, when it wrote it)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


_CLAIMED: dict[Path, int] = {}  # folder -> lock file descriptor, held until the process ends


@contextlib.contextmanager
def hold_folder(folder: str | Path, what: str = "folder") -> Iterator[Path]:
    """Holds `folder` (created if missing) for the duration of the block; a FolderBusyError
    naming the folder and the holder's pid when another process holds it."""
    folder = Path(folder)
    fd = _lock(folder, what)
    try:
        yield folder
    finally:
        _unlock(folder, fd)


def claim_folder(folder: str | Path, what: str = "folder") -> Path:
    """Holds `folder` (created if missing) until this process ends or `release_folder`; a
    FolderBusyError naming the holder's pid when another process holds it. Claiming a folder
    this process already claimed does nothing."""
    folder = Path(folder)
    key = folder.resolve()
    if key not in _CLAIMED:
        fd = _lock(folder, what)
        if fd is not None:
            _CLAIMED[key] = fd
    return folder


def release_folder(folder: str | Path) -> None:
    """Gives up a `claim_folder` claim (nothing when this process holds no claim on it)."""
    key = Path(folder).resolve()
    _unlock(key, _CLAIMED.pop(key, None))


def _lock(folder: Path, what: str) -> int | None:
    """The descriptor of `folder`'s lock file, locked; None where there is no fcntl."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        log.debug("no fcntl here; %s is not locked", folder)
        return None
    while True:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        _flock(fcntl, fd, folder, what)
        if _same_file(fd, folder / LOCK_NAME):
            break
        os.close(fd)  # locked a file its last holder removed on letting go: take the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _flock(fcntl, fd: int, folder: Path, what: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        raise FolderBusyError(
            f"{folder}: this {what} is in use by another evopose process"
            f"{f' (pid {holder})' if holder else ''}; wait for it to end or choose "
            f"another {what}",
            holder,
        ) from None
    except BaseException:
        os.close(fd)
        raise


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _unlock(folder: Path, fd: int | None) -> None:
    """Removes the lock file (still holding it, so no other process holds that file), then
    lets go of the lock."""
    if fd is None:
        return
    try:
        if _same_file(fd, folder / LOCK_NAME):
            (folder / LOCK_NAME).unlink()
    except OSError:  # the folder may have been removed (an unfinished run cleaned up)
        pass
    finally:
        os.close(fd)


def free_folder(
    folder: str | Path,
    what: str = "folder",
    *,
    grace: float = ORPHAN_GRACE_SECONDS,
    timeout: float = 60.0,
) -> int | None:
    """Makes `folder` free when a process of an earlier, killed run still holds it: ends that
    process (SIGTERM, then SIGKILL after `grace` seconds) and waits until it has let go.
    Returns the pid it ended, None when the folder was free (a missing folder is not created).
    Only for folders no live run of the user's can hold. A FolderBusyError when the holder
    cannot be ended: not a process of this machine holding the folder's lock file (checked in
    /proc; where there is none, nothing is ended), or still holding it after `timeout` s."""
    folder = Path(folder)
    if not (folder / LOCK_NAME).exists():
        return None
    deadline = time.monotonic() + timeout
    ended: int | None = None
    terminated_at = 0.0
    while True:
        try:
            _unlock(folder, _lock(folder, what))
        except FolderBusyError as busy:
            now = time.monotonic()
            if busy.pid is None or now > deadline or not _holds_lock(busy.pid, folder):
                raise
            if ended != busy.pid:
                log.warning(
                    "%s is held by pid %d, a process of an earlier run that was killed; ending it",
                    folder,
                    busy.pid,
                )
                ended, terminated_at = busy.pid, now
                _signal(busy.pid, signal.SIGTERM)
            elif now - terminated_at > grace:
                _signal(busy.pid, signal.SIGKILL)
            time.sleep(0.1)
        else:
            return ended


def _holds_lock(pid: int, folder: Path) -> bool:
    """True when process `pid` has `folder`'s lock file open (Linux: /proc/PID/fd)."""
    lock = str((folder / LOCK_NAME).resolve())
    fds = Path(f"/proc/{pid}/fd")
    try:
        links = list(fds.iterdir())
    except OSError:
        return False
    for link in links:
        with contextlib.suppress(OSError):
            if os.readlink(link) == lock:
                return True
    return False


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


def is_lock_file(path: Path) -> bool:
    """True for the lock file `hold_folder` keeps in a folder."""
    return path.name == LOCK_NAME


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
