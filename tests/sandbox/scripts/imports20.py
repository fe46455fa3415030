"""Import 20 common standard-library modules, use a few, read /dev/input; print a summary."""
import base64
import collections
import csv
import datetime
import decimal
import functools
import hashlib
import heapq
import io
import itertools
import json
import math
import random
import re
import statistics
import string
import struct
import textwrap
import zlib
import urllib.parse

MODULES = (base64, collections, csv, datetime, decimal, functools, hashlib, heapq, io, itertools,
           json, math, random, re, statistics, string, struct, textwrap, zlib, urllib.parse)

with open('/dev/input', 'rb') as source:
    data = source.read()
words = collections.Counter(re.findall(rb'\w+', data))
summary = {
    'sha256': hashlib.sha256(data).hexdigest(),
    'crc32': zlib.crc32(data),
    'top': [[w.decode(), n] for w, n in heapq.nlargest(3, words.items(), key=lambda kv: (kv[1], kv[0]))],
    'mean': statistics.mean(len(w) for w in words.elements()) if words else 0,
    'b64': base64.b64encode(data[:12]).decode(),
    'modules': len(MODULES),
}
print(json.dumps(summary, sort_keys=True))
