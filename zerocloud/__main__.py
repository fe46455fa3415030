import sys

from zerocloud.cli import main

sys.exit(main())
