"""Word count over /dev/stdin: print "LINES WORDS BYTES" like `wc`."""
import sys

data = sys.stdin.buffer.read()
print(data.count(b'\n'), len(data.split()), len(data))
