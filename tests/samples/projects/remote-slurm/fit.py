x = 0.0

print("x=%s" % x)
print("loss: %s" % round((x - 1.0) ** 2, 4))
