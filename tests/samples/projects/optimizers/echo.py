"""Print the flag values x, y and z."""

x = 1.0
y = 2
z = "a"

print("%r %r %r" % (x, y, z))
