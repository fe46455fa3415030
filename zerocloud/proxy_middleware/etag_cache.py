"""What a HEAD said about an object, remembered for a few seconds (one per proxy process).

Every job reads its executable (and its remote inputs) through an
:class:`~.sources.ObjectSource` that needs the object's ETag and size: the ETag lets an
object server that holds those bytes run them without receiving them again, the size is
checked against ``zerovm_maxinput``.  Asking Swift with a HEAD on every job costs a round
trip to an object server (about a third of a trivial job's time).  :class:`HeadCache`
keeps ``path -> (ETag, size)`` for :data:`HEAD_CACHE_SECONDS`, as Swift keeps container
info in memcache.

What the cache saves is a round trip, never an authorization check: a job that finds a path
here still authorizes it as the caller (:meth:`.SwiftAccess.authorize_read`: the container's
read ACL through the pipeline's ``swift.authorize``, setuid included) before anything runs;
a hit that check refuses is asked with a HEAD after all, whose answer (403, 404...) is the
job's, word for word as without the cache.

What it may cost is freshness, bounded:

* an object overwritten (or deleted) in Swift may run with its old ETag for at most
  :data:`HEAD_CACHE_SECONDS` after the proxy's last HEAD of it: on a server that caches the
  old bytes by that ETag, the old bytes run;
* on a server that does not, the proxy GETs the object: a GET whose ETag is not the one
  remembered is refused before a byte is sent (:class:`~.sources.SourceChanged`, the job
  answers 503 "changed while it was sent") and the path is forgotten, so the next job
  asks Swift again.  Old bytes are never sent under a new name nor new bytes under an old
  one (the object server checks the bytes it receives against the ETag too).

Only plain objects are remembered: not SLO/DLO manifests (no cacheable ETag: their bytes
always come from a GET), and not symlinks (their HEAD is authorized against the target's
container, which a cache hit would not check).  Bounded to ``max_entries`` paths (oldest
forgotten first).
"""
import time

HEAD_CACHE_SECONDS = 2.0   # longest time an overwritten executable may run its old bytes
HEAD_CACHE_ENTRIES = 4096


class HeadCache:
    """``path -> (etag, size)`` for ``ttl_seconds`` after it was learnt; ``clock`` is
    injectable for tests."""

    def __init__(self, ttl_seconds=HEAD_CACHE_SECONDS, max_entries=HEAD_CACHE_ENTRIES,
                 clock=time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries = {}   # path -> (expiry, etag, size), oldest first

    def get(self, path):
        """``(etag, size)`` of ``path`` when learnt less than ``ttl_seconds`` ago, else
        None (an expired entry is dropped)."""
        entry = self._entries.get(path)
        if entry is None:
            return None
        expiry, etag, size = entry
        if self.clock() >= expiry:
            del self._entries[path]
            return None
        return etag, size

    def put(self, path, etag, size):
        """Remember what a HEAD of ``path`` said (a non-empty ``etag``)."""
        if not etag or self.ttl_seconds <= 0:
            return
        self._entries.pop(path, None)
        while len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[path] = (self.clock() + self.ttl_seconds, etag, size)

    def forget(self, path):
        """Drop what is known of ``path`` (its bytes were found changed)."""
        self._entries.pop(path, None)

    def __len__(self):
        return len(self._entries)
