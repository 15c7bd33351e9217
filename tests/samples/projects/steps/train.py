x = 1
y = 2
print("train x=%s y=%s" % (x, y))
