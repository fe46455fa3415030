"""Zapps: jobs packed with their files in a tar (SPEC S1.2, issue 12).

A zapp is a tar (plain or gzip-compressed, recognised by its magic bytes) whose
``boot/system.map`` (``boot/cluster.map`` is accepted when there is no system map) is the
job description; the whole tar becomes the ``image`` device of every session of the job,
mounted read-only at ``/``.  POSTed with ``Content-Type: application/x-tar`` (also
``x-gtar``, ``x-ustar``, ``gzip``, ``x-gzip``, ``x-compressed-tar``).

This package is the server-side engine, importing no swift and no eventlet:

:mod:`zerocloud.zapp.tarstream`
    :func:`read_zapp`: one pass over a request body: the system map (bounded), the tar
    spooled to a file as it is read, its MD5 (the image's cache key); typed errors
    (``boot/system.map`` missing 400, ``corrupt gzip`` 400, ``corrupt tar`` 400, bounds 413).
:mod:`zerocloud.zapp.unpack`
    :func:`unpack`: a hostile tar made a safe read-only tree, or refused naming the member
    (absolute paths, ``..``, links out of the tree, device nodes, FIFOs, duplicates, setuid
    bits stripped, bounded bytes and members).
:mod:`zerocloud.zapp.cache`
    :class:`ImageCache`: one unpack per ETag (per process and across worker processes),
    leases that keep an image from eviction, LRU eviction within a byte bound, unpacking
    in a worker thread, kept across restarts.

The client side is ``zerocloud zapp bundle|deploy`` and ``zerocloud submit``
(:mod:`zerocloud.cli.zapp`, :mod:`zerocloud.cli.submit`).

Integration, in a few calls.  The proxy::

    head = read_zapp(env['wsgi.input'], spool=spool, max_bytes=conf.max_nexe_bytes,
                     max_map_bytes=conf.max_config_bytes)      # ZappError -> err.status
    job = parse_job(head.system_map, ...)   # then send the spool (ETag head.md5) as the
                                            # image part of every session
The object server::

    cache = ImageCache(path, max_bytes, UnpackLimits(max_bytes, max_members),
                       run_blocking=green.run_in_thread)     # once, at filter start
    lease = cache.lookup(etag) or cache.get_or_unpack(etag, spooled_image)
    ... ImageSpec('image', host_path=lease.path, mount_point='/') ...
    lease.release()                                           # when the session is over
"""
from zerocloud.zapp.cache import ImageCache, ImageLease, cache_key
from zerocloud.zapp.errors import (BadSystemMap, CacheFull, CorruptGzip, CorruptTar,
                                   MissingSystemMap, UnsafeMember, UnsupportedCompression,
                                   ZappError, ZappTooLarge)
from zerocloud.zapp.tarstream import (CLUSTER_MAP, SYSTEM_MAP, TAR_CONTENT_TYPES, ZappHead,
                                      is_zapp_content_type, read_zapp)
from zerocloud.zapp.unpack import UnpackLimits, Unpacked, remove_tree, unpack

__all__ = [
    'read_zapp', 'ZappHead', 'is_zapp_content_type', 'SYSTEM_MAP', 'CLUSTER_MAP',
    'TAR_CONTENT_TYPES', 'unpack', 'UnpackLimits', 'Unpacked', 'remove_tree',
    'ImageCache', 'ImageLease', 'cache_key',
    'ZappError', 'MissingSystemMap', 'BadSystemMap', 'CorruptGzip', 'CorruptTar',
    'UnsupportedCompression', 'UnsafeMember', 'ZappTooLarge', 'CacheFull',
]
