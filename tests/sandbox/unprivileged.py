"""Run the sandbox as an ordinary user, as Swift's servers run it (``user = swift``).

The test session runs as root; these helpers start ``zerocloud run`` and sandbox supervisors
as :data:`UID` (``nobody``: no capability, no group, no privilege of any kind) and give
them a working directory that user owns:

- :func:`workdir` makes a fresh directory owned by :data:`UID` in a world-searchable base
  (pytest's own ``tmp_path`` lives under a ``0700`` directory of root);
- :func:`hand_over` gives every file of such a directory to :data:`UID` before a run, so a
  test's inputs and secrets belong to the uid the jail runs as: only the sandbox, never file
  permissions, keeps the jailed program from them;
- :func:`as_user` are the ``subprocess`` arguments that run a Python command as
  :data:`UID`, through :func:`python_wrapper`: an executable that runs Python as
  :data:`UID` (also for ``start_supervisor(python=...)``), or where user namespaces are
  disabled;
- :func:`reachable_view` makes Python reachable by :data:`UID` when it was installed
  under a private directory (pyenv under ``/root``), in a mount namespace of the run only.
"""
import os
import shlex
import shutil
import stat
import sys
import tempfile

UID = GID = 65534
BASE = os.path.join(tempfile.gettempdir(), 'zerocloud-unprivileged-tests')
#: shell lines that disable user namespaces for what they exec: a user namespace of its own
#: whose user.max_user_namespaces is 0 (a real kernel limit, not a simulation in our code)
NO_USERNS = ('unshare --user --map-root-user sh -c '
             '\'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"\' sh ')


def workdir():
    """A new directory owned by :data:`UID` (remove it with :func:`remove`)."""
    os.makedirs(BASE, exist_ok=True)
    os.chmod(BASE, 0o755)
    path = tempfile.mkdtemp(dir=BASE)
    os.chown(path, UID, GID)
    os.chmod(path, 0o755)
    return path


def hand_over(directory):
    """Give every file and directory under ``directory`` to :data:`UID` (FIFOs too)."""
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                os.chown(path, UID, GID)


def python_wrapper(directory, disable_userns=False):
    """The path of an executable in ``directory`` that runs this Python (``"$@"`` passed
    on) as :data:`UID` in :func:`reachable_view`; with ``disable_userns``, as root of a
    user namespace of that uid whose ``user.max_user_namespaces`` is 0 (the uid's files and
    no capability outside it, no user namespace inside: a machine where they are
    disabled).  Use it as ``start_supervisor(python=...)`` or as ``subprocess``'s
    ``executable``."""
    path = os.path.join(directory, 'python-no-userns' if disable_userns else 'python-as-user')
    command = shlex.join(reachable_view() + [
        'setpriv', '--reuid=%d' % UID, '--regid=%d' % GID, '--clear-groups'])
    command += ' ' + (NO_USERNS if disable_userns else '') + sys.executable
    with open(path, 'w') as f:
        f.write('#!/bin/sh\nexec %s "$@"\n' % command)
    os.chmod(path, 0o755)
    return path


def as_user(directory):
    """``subprocess`` keyword arguments that run a Python command line as :data:`UID`
    (its ``executable`` becomes :func:`python_wrapper`)."""
    return {'executable': python_wrapper(directory)}


def reachable_view():
    """An argv prefix that runs its command in a private
    mount namespace where this Python and zerocloud are reachable by every user; empty
    when they already are.

    A directory on the way that others cannot search (``/root`` when Python was installed
    by pyenv under it) is covered, in that namespace only, by an empty ``0755`` tmpfs into
    which the one entry on the way is bound back: nothing else of it becomes visible, and
    nothing changes on the machine.
    """
    steps = []
    for hidden, entry in _hidden_on_the_way():
        steps.append('s=$(mktemp -d) && mount --bind {h}/{e} "$s" && '
                     'mount -t tmpfs -o mode=0755,size=64k tmpfs {h} && mkdir {h}/{e} && '
                     'mount --move "$s" {h}/{e} && rmdir "$s"'
                     .format(h=shlex.quote(hidden), e=shlex.quote(entry)))
    if not steps:
        return []
    script = ' && '.join(steps) + ' && exec "$@"'
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh']


def _hidden_on_the_way():
    """``[(directory others cannot search, its entry on the way)]``, outermost first, on
    the paths of the interpreter, the environment and the zerocloud package."""
    import zerocloud
    found = {}
    for target in (os.path.realpath(sys.executable), os.path.realpath(sys.prefix),
                   os.path.dirname(os.path.realpath(zerocloud.__file__))):
        current = '/'
        for part in target.strip('/').split('/')[:-1]:
            child = os.path.join(current, part)
            if not os.stat(current).st_mode & stat.S_IXOTH and current not in found:
                found[current] = part
            current = child
    return sorted(found.items(), key=lambda item: item[0].count('/'))


def remove(directory):
    shutil.rmtree(directory, ignore_errors=True)
