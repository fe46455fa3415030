"""Print {"argv": sys.argv[1:], "env": os.environ} as JSON; exit with $SB_EXIT (default 0)."""
import json
import os
import sys

json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, sys.stdout, sort_keys=True)
sys.exit(int(os.environ.get('SB_EXIT', '0')))
