"""Print the flags; exit 1 when x is listed in the FAIL_X environment variable."""

import os
import time

x = 1
y = 0.5
z = "a"
sleep = 0.0

if sleep:
    time.sleep(sleep)
print("x=%r y=%r z=%r" % (x, y, z))
if str(x) in os.environ.get("FAIL_X", "").split(","):
    raise SystemExit("trial failed for x=%s" % x)
