"""Spooled shuffles on the object server: one session's spool files.

See :mod:`zerocloud.shuffle` for the design.  :class:`SessionSpools` gives one session its
``/dev/out/<peer>`` spool files (created as ``<name>.part`` in the job's directory
``<zerovm_work_dir>/shuffle/<token>/``, renamed to ``<name>`` only when the program exited
0, removed otherwise) and its ``/dev/in/<producer>`` inputs, gathered in one directory of
this process's work directory (the jail binds it whole, read-only, at ``/dev/in``: one
mount for thousands of producers): a spool of this server is hard-linked there, the others
are fetched there from their servers (:mod:`.shuffle_transfer`: one request per server,
:data:`FETCH_PARALLEL` at a time), each counted against ``zerovm_maxinput``, all within
``zerovm_timeout``.  A missing spool, an unreachable server or a short read fails the
session before its program starts, naming why.  :class:`SpoolUsage` bounds the spools of
a server (``zerovm_shuffle_max_bytes``); job directories older than
:data:`zerocloud.shuffle.SPOOL_TTL_SECONDS` are swept when a session opens its spools.
"""
import os
import shutil
import tempfile
import time

from zerocloud import green, shuffle as shufflelib
from zerocloud.object_middleware import shuffle_transfer as transfer

INPUTS_DEVICE = 'in'       # the session's spooled inputs: one directory at /dev/in
FETCH_PARALLEL = 8
SWEEP_EVERY_SECONDS = 300.0
USAGE_SECONDS = 1.0        # the spools' bytes are counted again at most this often
_last_sweep = [0.0]


class SpoolError(Exception):
    """A spool could not be had or kept (an input missing or not fetched, the job's spools
    removed: it was cancelled): its message names the device and why."""


class SpoolUsage:
    """The bytes of every job's spools on this server (``<base>/shuffle``), against
    ``zerovm_shuffle_max_bytes`` (0: no bound but ``zerovm_maxoutput`` per channel and the
    disk's free space).  Counted by walking the directory, at most every
    :data:`USAGE_SECONDS` per process (every process of the server writes there)."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._counted = (-USAGE_SECONDS, 0)

    def check(self, shuffle_dir, adding=0, now=None):
        """:raises SpoolError: the spools (plus ``adding`` bytes) are over the bound."""
        if not self.max_bytes:
            return
        now = time.monotonic() if now is None else now
        if now - self._counted[0] >= USAGE_SECONDS:
            # a stat per spool file: off the server's event loop
            self._counted = (now, green.run_in_thread(_tree_bytes, shuffle_dir))
        used = self._counted[1] + adding
        if used > self.max_bytes:
            raise SpoolError('the shuffle spools on this server hold %d bytes, more than '
                             'zerovm_shuffle_max_bytes (%d): run the job when others have '
                             'ended, or with fewer bytes between its stages'
                             % (used, self.max_bytes))


def _tree_bytes(top):
    total = 0
    for job in os.scandir(top):
        if job.is_dir(follow_symlinks=False):
            for entry in os.scandir(job.path):
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
    return total


class SessionSpools:
    """The spooled channels of one session (:meth:`open`, :meth:`finish`, :meth:`close`).

    :param shuffle: the session's :class:`zerocloud.shuffle.Shuffle`.
    :param shuffle_dir: this server's ``<base>/shuffle`` directory.
    :param work_dir: this process's work directory (fetched inputs go there).
    :param node_name: this server's ``ip:port`` (its own spools are read from disk).
    """

    def __init__(self, shuffle, shuffle_dir, work_dir, node_name, max_input_bytes,
                 usage=None, gather_seconds=60.0):
        self.shuffle = shuffle
        self.job_dir = os.path.join(shuffle_dir, shuffle.token)
        self.shuffle_dir = shuffle_dir
        self.work_dir = work_dir
        self.node_name = node_name
        self.max_input_bytes = max_input_bytes
        self.parts = {}       # device -> path of its .part spool
        self.files = []       # open output files, closed by close()
        self.in_dir = None    # the /dev/in directory: links to local spools, fetched copies
        self.in_dir_fd = None
        self.fetched_bytes = 0
        self.fetched_count = 0
        self.usage = usage or SpoolUsage(0)
        self.gather_seconds = gather_seconds

    def open(self):
        """``{device: fd}`` for every shuffle device.

        :raises SpoolError: an input spool is missing or could not be fetched.
        """
        sweep_stale(self.shuffle_dir)
        if self.shuffle.outs:
            self.usage.check(self.shuffle_dir)
        os.makedirs(self.job_dir, 0o700, exist_ok=True)
        fds = {}
        for device in self.shuffle.outs:
            path = os.path.join(self.job_dir, shufflelib.spool_name(
                self.shuffle.instance, device)) + '.part'
            try:
                handle = open(path, 'wb')
            except FileNotFoundError:
                raise SpoolError('%s: the job\'s spools were removed (it ended)' % device)
            self.files.append(handle)
            self.parts[device] = path
            fds[device] = handle.fileno()
        if self.shuffle.ins:
            self.in_dir = tempfile.mkdtemp(dir=self.work_dir, prefix='in-')
            self._gather()
            fds[INPUTS_DEVICE] = os.open(self.in_dir, os.O_RDONLY | os.O_DIRECTORY |
                                         os.O_CLOEXEC)
            self.in_dir_fd = fds[INPUTS_DEVICE]
        return fds

    def finish(self, report):
        """Publish the output spools when the program exited 0 (else remove them); the
        total bytes spooled.

        :raises SpoolError: the job's spools were removed (it ended), or these would take
            the server's spools over ``zerovm_shuffle_max_bytes`` (they are removed).
        """
        parts, self.parts = self.parts, {}
        try:
            if not (report.ok and not report.retcode):
                return 0
            total = sum(os.path.getsize(path) for path in parts.values())
            self.usage.check(self.shuffle_dir, adding=total)
            for path in parts.values():
                os.rename(path, path[:-len('.part')])
            parts = {}
            return total
        except FileNotFoundError:
            raise SpoolError("%s: the job's spools were removed (it ended)"
                             % ', '.join(parts))
        finally:
            for path in parts.values():
                _unlink(path)

    def close(self):
        """Close every file; remove unpublished spools (a cancelled session) and the
        session's input directory."""
        for handle in self.files:
            handle.close()
        for path in self.parts.values():
            _unlink(path)
        self.parts = {}
        if self.in_dir_fd is not None:
            os.close(self.in_dir_fd)
            self.in_dir_fd = None
        if self.in_dir is not None:   # thousands of entries: off the event loop
            green.run_in_thread(shutil.rmtree, self.in_dir, True)
            self.in_dir = None

    def _gather(self):
        """Fill the input directory, named as the ``/dev/in`` entries: links to this
        server's spools, the others fetched from their servers (one request for up to
        :data:`~.shuffle_transfer.MAX_NAMES` spools, :data:`FETCH_PARALLEL` at a time).

        :raises SpoolError: a spool is missing, cannot be fetched, or the whole takes more
            than ``gather_seconds``.
        """
        remote = {}
        for device, producer, producer_device, server in self.shuffle.ins:
            entry = device[len('in/'):]
            if not shufflelib.is_name(entry):
                raise SpoolError('%s: not a name for an entry of /dev/in' % device)
            name = shufflelib.spool_name(producer, producer_device)
            target = os.path.join(self.in_dir, entry)
            if server != self.node_name:
                remote.setdefault(server, {})[name] = target
                continue
            try:
                os.link(os.path.join(self.job_dir, name), target)
            except FileNotFoundError:
                raise SpoolError('the spool of %s for %s is not on this server (%s)'
                                 % (producer, device, server))
        batches = [(server, dict(items[start:start + transfer.MAX_NAMES]))
                   for server, wanted in remote.items() for items in [list(wanted.items())]
                   for start in range(0, len(items), transfer.MAX_NAMES)]
        try:
            with green.Timeout(self.gather_seconds):
                sizes = green.map_bounded(self._fetch, batches, FETCH_PARALLEL)
        except green.Timeout:
            raise SpoolError('the %d inputs were not gathered within %g s (zerovm_timeout)'
                             % (len(self.shuffle.ins), self.gather_seconds))
        except transfer.TransferError as err:
            raise SpoolError('input: %s' % err)
        self.fetched_bytes = sum(sizes)
        self.fetched_count = sum(len(wanted) for _, wanted in batches)

    def _fetch(self, batch):
        server, wanted = batch
        return transfer.fetch(server, self.shuffle.token, wanted, self.max_input_bytes)


def sweep_stale(shuffle_dir, now=None):
    """Remove job directories not modified for :data:`~zerocloud.shuffle.SPOOL_TTL_SECONDS`
    (a proxy that died before cleaning up); at most every :data:`SWEEP_EVERY_SECONDS`
    per process.  The names removed."""
    now = time.time() if now is None else now
    if now - _last_sweep[0] < SWEEP_EVERY_SECONDS:
        return []
    _last_sweep[0] = now
    removed = []
    for entry in os.scandir(shuffle_dir):
        try:
            if entry.is_dir(follow_symlinks=False) and \
                    now - entry.stat(follow_symlinks=False).st_mtime > \
                    shufflelib.SPOOL_TTL_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
