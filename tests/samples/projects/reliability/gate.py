# Waits until the file $GATE_DIR/open exists, then exits.
#
# Each start appends a line to $GATE_DIR/starts. With GATE_FAIL=first only
# the first start fails; with GATE_FAIL=always every start fails.
import os
import sys
import time

x = 1

gate = os.environ["GATE_DIR"]
with open(os.path.join(gate, "starts"), "a") as f:
    f.write("%d\n" % os.getpid())
with open(os.path.join(gate, "starts")) as f:
    n = len(f.read().split())
deadline = time.time() + 60
while not os.path.exists(os.path.join(gate, "open")):
    if time.time() > deadline:
        sys.exit("gate never opened")
    time.sleep(0.02)
mode = os.environ.get("GATE_FAIL", "")
if mode == "always" or (mode == "first" and n == 1):
    sys.exit("failing start %d as asked" % n)
print("start %d passed the gate" % n)
