w = None
conf = {"v": None}
print(repr(w), repr(conf["v"]))
