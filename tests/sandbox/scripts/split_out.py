"""Map step: route the words of /dev/input to /dev/out/<first letter a-m or n-z> (argv names).

Usage: split_out.py LOW_NAME HIGH_NAME; prints how many words went to each."""
import sys

low_name, high_name = sys.argv[1], sys.argv[2]
with open('/dev/input') as source:
    words = source.read().split()
low = [w for w in words if w[0].lower() <= 'm']
high = [w for w in words if w[0].lower() > 'm']
with open('/dev/out/' + low_name, 'w') as out:
    out.write('\n'.join(low) + '\n')
with open('/dev/out/' + high_name, 'w') as out:
    out.write('\n'.join(high) + '\n')
print(len(low), len(high))
