"""Writing files without losing anything: the one place that decides whether a path may be
written, and writes it atomically.

The rules, for every file fastshallow writes (model files, predictions, plots, benchmark
results):
- a path that does not exist is created; its folder must exist and be writable, which is
  checked before any work, so a long training run never fails at its last step;
- an existing regular file is replaced only when the caller says so (overwrite=True,
  the CLI's --force), and then atomically (through a symbolic link, the file it names): a temporary file in the same folder is
  written, flushed and fsynced, then renamed over the target, so a crash leaves either
  the old file or the new one;
- anything else that exists (a directory, a FIFO, a device, a socket) is never replaced:
  renaming a regular file over a FIFO would destroy it and starve its reader;
- an output is never one of the same command's inputs, whatever overwrite says.
"""

import contextlib
import os
import stat
import tempfile


class OutputPathError(ValueError):
    """An output path that may not be written; the message names it and says why."""


class ExistingOutputError(OutputPathError, FileExistsError):
    """The output exists and the caller did not ask to replace it."""


def file_path(path, what="path"):
    """path (str, bytes or os.PathLike) as a str; a TypeError naming `what` otherwise."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(f"{what} must be a file path (str, bytes or os.PathLike); got {type(path).__name__}") from None


def check_output(path, *, overwrite=False, inputs=(), what="output"):
    """Raise OutputPathError unless `path` may be written under the rules above.

    what names the path in messages (for example "--out"); inputs are the paths the same
    operation reads. FileExistsError (an OutputPathError too) when path is an existing
    regular file and overwrite is false."""
    path = file_path(path, what)  # one kind of path: the temporary file's name is str
    for source in inputs:
        if _same_file(path, file_path(source)):
            raise OutputPathError(f"{what} {path} is also an input of this command; choose another file")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputPathError(f"{what} {path}: cannot be examined ({exc.strerror})") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, device or socket)"
            raise OutputPathError(f"{what} {path} is {kind}; give the path of a regular file to write")
        if not overwrite:
            raise ExistingOutputError(f"{what} {path} already exists; use --force (overwrite=True) to replace it")
    folder = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(folder):
        raise OutputPathError(f"{what} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path}: the folder {folder} is not writable")
    return path


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet): they cannot be one file
        return False


def _new_file_mode(path):
    """The permissions the written file should end with: the replaced file's, or what
    open() would give a new file under the process's umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path, write, *, overwrite=False, inputs=(), what="output", binary=True):
    """Check path (check_output), then write(f) to a temporary file in its folder and
    rename it over path. Returns path.

    A symbolic link is written through: its target is replaced and the link stays."""
    path = check_output(path, overwrite=overwrite, inputs=inputs, what=what)
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=".fastshallow-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp's 0600 would outlive the rename
        # Checked again just before the rename: something may have appeared meanwhile.
        check_output(path, overwrite=overwrite, inputs=inputs, what=what)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
