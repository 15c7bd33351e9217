"""Print the `msg` flag between brackets, exactly as the run received it."""

msg = "hello"

print("[%s]" % msg)
