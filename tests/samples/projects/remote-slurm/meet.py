import os
import time

rendezvous = ""
name = "a"
count = 2
timeout = 120.0

# Arrive, then wait until `count` runs have arrived: only runs that are in
# flight at the same time can all get past this point.
os.makedirs(rendezvous, exist_ok=True)
open(os.path.join(rendezvous, name), "w").close()
deadline = time.time() + timeout
while len(os.listdir(rendezvous)) < count:
    if time.time() > deadline:
        raise SystemExit("only %d of %d runs arrived" % (len(os.listdir(rendezvous)), count))
    time.sleep(0.1)
print("%s met %d runs" % (name, count))
