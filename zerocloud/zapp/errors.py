"""The errors of zapp handling: each carries the HTTP status the proxy answers with and a
message naming the member, the limit or the problem (never a traceback)."""


class ZappError(ValueError):
    """A zapp (an image tar) cannot be used; ``str()`` says why.  ``status`` is the HTTP
    status that the client's mistake maps to (400 unless a subclass says otherwise)."""
    status = 400


class MissingSystemMap(ZappError):
    """The tar holds no ``boot/system.map`` (nor ``boot/cluster.map``)."""


class BadSystemMap(ZappError):
    """The system map is present but unusable (not a regular file, given twice)."""


class CorruptGzip(ZappError):
    """The gzip layer is damaged: bad header, bad data, bad CRC or truncated."""


class UnsupportedCompression(ZappError):
    """The tar is compressed with something other than gzip (bzip2, xz, zstd)."""


class CorruptTar(ZappError):
    """The tar layer is damaged: bad header, truncated member, garbage after the end."""


class UnsafeMember(ZappError):
    """A member that could escape or subvert the image directory: an absolute path, a
    ``..`` component, a link pointing out of the tree, a device node or FIFO, a path
    through a symlink, a name given twice."""


class ZappTooLarge(ZappError):
    """A bound was crossed: the tar's bytes, its unpacked bytes, its member count, the
    system map's size or an extended header's size."""
    status = 413


class CacheFull(ZappError):
    """The image cache cannot make room: the images in use by running sessions fill it."""
    status = 503
