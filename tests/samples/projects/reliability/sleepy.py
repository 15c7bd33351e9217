# Says it is ready, then sleeps until signalled (at most `seconds`).
import sys
import time

seconds = 120

print("ready", flush=True)
deadline = time.time() + seconds
while time.time() < deadline:
    time.sleep(0.05)
print("woke up", flush=True)
sys.exit(3)
