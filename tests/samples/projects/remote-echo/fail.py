"""Print a line, then exit with the `code` flag as exit status."""

import sys

code = 3

print("failing with %d" % code)
sys.exit(code)
