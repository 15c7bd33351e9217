n = 2
label = "a b"

print("n=%s label=%s" % (n, label))
