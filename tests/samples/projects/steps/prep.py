n = 1
print("prep n=%s" % n)
