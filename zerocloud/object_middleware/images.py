"""User images (zapps) on the object server: received or cached, unpacked once, shown at ``/``.

A session whose description has ``image`` (:class:`zerocloud.wire.UserImage`) runs with its
user image: a tar (plain or gzip) sent in the ``image`` frame, or cached here by its ETag
(the MD5 of the tar's bytes).  :class:`UserImages` keeps them in a
:class:`zerocloud.zapp.ImageCache` in the server process's work directory
(``<zerovm_work_dir>/w-.../images``): each ETag is unpacked once per server process (a
hostile tar refused naming the member: :mod:`zerocloud.zapp.unpack`), the least recently
used evicted beyond ``zerovm_image_cache_bytes`` (never one in use), and all of it removed
with the work directory when the process stops or dies: users' applications are not kept
on the server beyond their use (:mod:`.workdir`).  The unpack runs in
an OS thread (the server keeps serving).

The session sees the tree read-only: mounted at ``/`` (each top-level entry bound on its
own, so ``/dev`` stays the session's), system images at their own places (the built-in
``python`` at the host's paths).  A ``file://<path>`` program (or ``file://image:<path>``,
or a bare path) is looked for in the session's images in order -- the user image first,
then its system images, then the server's other system images (added to the session) --
and is a ``404`` naming it when none has it (marked final: no other replica would differ).

Log lines (one per session with an image): ``zerocloud: session <name>: image <etag>
unpacked (<bytes> bytes)`` or ``zerocloud: session <name>: image <etag> from the image
cache``.

Statuses: ``409`` with ``X-Backend-Zerocloud-Need: image`` when the image is neither sent
nor cached; ``400`` for bytes that do not match the ETag, an unusable tar or an unsafe
member; ``413`` over a bound; ``503`` when the images in use fill the cache.
"""
import dataclasses
import os

from swift.common import swob

from zerocloud import green, metrics, wire
from zerocloud.zapp import ImageCache, UnpackLimits, ZappError

CACHE_DIRECTORY = 'images'


class UserImages:
    """This server process's cache of user images, in ``<work_dir()>/images`` (made on first
    use; ``work_dir`` is the filter's :meth:`~.ZerocloudObject.work_dir`)."""

    def __init__(self, config, logger, work_dir):
        self.config = config
        self.logger = logger
        self.work_dir = work_dir
        self._cache = None

    @property
    def cache(self):
        if self._cache is None:
            limits = UnpackLimits(max_bytes=self.config.image_cache_bytes)
            root = os.path.join(self.work_dir(), CACHE_DIRECTORY)
            self._cache = ImageCache(root, self.config.image_cache_bytes, limits,
                                     run_blocking=green.run_in_thread)
        return self._cache

    def prepare(self, session, spool, files):
        """The session and configuration to run with: ``(session, config)``.

        Without a user image (and with an executable that names its image), both unchanged.
        With one, it is leased (the lease joins ``files``, released with them) and the
        configuration shows it as the image named ``image``; a program path is resolved to
        the image holding it.

        :raises HTTPException: see the module docstring.
        """
        config = self.config
        if session.image is not None:
            lease = self.lease(session, spool)
            files.append(lease)
            config = config.with_user_image(lease.path)
        return resolve_program(session, config), config

    def lease(self, session, spool):
        """An :class:`~zerocloud.zapp.ImageLease` of the session's image, from ``spool``
        (the received ``image`` frame, or None) or from the cache."""
        etag = session.image.etag
        if spool is None:
            lease = self._lookup(etag) if etag else None
            if lease is None:
                raise swob.HTTPConflict(body='image %s not cached here\n' % (etag or '-'),
                                        headers={wire.NEED_HEADER: wire.NEED_IMAGE})
            self._log(session, lease, 'from the image cache')
            return lease
        if etag and spool.md5 != etag.strip('"'):
            raise swob.HTTPBadRequest(body='image: bytes do not match ETag %s\n' % etag)
        key = etag or spool.md5
        lease = self._lookup(key)
        if lease is not None:
            self._log(session, lease, 'from the image cache')
            return lease
        try:
            lease = self.cache.get_or_unpack(key, spool.name)
        except ZappError as err:
            raise swob.HTTPException(status=err.status, body='image: %s\n' % err,
                                     content_type='text/plain')
        self._log(session, lease, 'unpacked (%d bytes)' % lease.bytes)
        return lease

    def _lookup(self, etag):
        try:
            lease = self.cache.lookup(etag)
        except ValueError as err:
            raise swob.HTTPBadRequest(body='image: %s\n' % err)
        metrics.cache_lookup(self.logger, 'image', lease is not None)
        return lease

    def _log(self, session, lease, what):
        self.logger.info('zerocloud: session %s: image %s %s', session.name, lease.etag, what)


def resolve_program(session, config):
    """``session`` with a program path in the user image, or a path without image, resolved
    to the image holding it (appended to ``session.images`` when it is a system image the
    session does not list).

    :raises HTTPNotFound: (final) naming the program when no image has it.
    """
    executable = session.executable
    if not executable.path or executable.image not in ('', wire.USER_IMAGE):
        return session
    images = session.images
    if executable.image:
        candidates = (wire.USER_IMAGE,)
    else:
        candidates = images + tuple(name for name in config.sysimages if name not in images)
    for name in candidates:
        if has_program(name, executable.path, config.sysimages):
            if name not in images:
                images += (name,)
            return dataclasses.replace(
                session, images=images,
                executable=dataclasses.replace(executable, image=name))
    raise swob.HTTPNotFound(
        body='program %s is in none of the session\'s images (%s)\n'
             % (executable.path, ', '.join(candidates) or 'none'),
        content_type='text/plain', headers={wire.FINAL_HEADER: '1'})


def has_program(image, path, sysimages):
    """True when ``image`` (a name of ``sysimages``: host directories, '' for the built-in
    python) holds the file ``path`` (not leaving the image through a link)."""
    from zerocloud.sandbox.images import PYTHON_IMAGE, PYTHON_NAMES
    root = sysimages.get(image)
    if root is None:
        return False
    if not root:
        return image == PYTHON_IMAGE and path.strip('/') in PYTHON_NAMES
    root = os.path.realpath(root)
    host = os.path.realpath(os.path.join(root, path.lstrip('/')))
    return host.startswith(root.rstrip('/') + '/') and os.path.isfile(host)
