"""zerocloud: storage-side compute for OpenStack Swift.

Users POST a job to their Swift account; the proxy middleware plans one sandboxed session per
instance and runs each on the object server that holds its data.  See README.md and the
package docstrings of ``zerocloud.proxy_middleware`` and ``zerocloud.object_middleware``.
"""
__version__ = '0.1.0'
