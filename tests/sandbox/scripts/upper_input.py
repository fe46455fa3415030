"""Read /dev/input, write it upper-cased to /dev/output, print the byte count on stdout."""
with open('/dev/input', 'rb') as source:
    data = source.read()
with open('/dev/output', 'wb') as target:
    target.write(data.upper())
print(len(data))
