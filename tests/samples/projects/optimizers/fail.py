"""Fail according to the flag ``code``: 1 raises, other non-zero values exit."""

import sys

code = 1

if code == 1:
    raise Exception("FAIL")
if code != 0:
    sys.stderr.write("FAIL\n")
    sys.exit(code)
