"""Benchmark sample op: three global flags, printed on one line."""

x = 1.0
y = 2
z = "a"

print("%r %r %r" % (x, y, z))
