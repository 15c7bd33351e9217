import sys

code = 3
print("failing with %s" % code)
sys.exit(code)
