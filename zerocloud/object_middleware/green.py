"""The one adapter to eventlet used by the object middleware (green primitives)."""
import eventlet.semaphore

Semaphore = eventlet.semaphore.Semaphore
