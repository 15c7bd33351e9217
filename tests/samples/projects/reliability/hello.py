# Prints its flags (module globals).
x = 1.0
y = 2
z = "a"
b = True

print("x=%s y=%s z=%s b=%s" % (x, y, z, b))
