"""Print `tick 1` .. `tick n`, one every `delay` seconds."""

import time

n = 3
delay = 0.2

for i in range(1, n + 1):
    print("tick %d" % i, flush=True)
    time.sleep(delay)
