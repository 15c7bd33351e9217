msg = "hi"
code = 0

print(msg)
if code:
    raise SystemExit(code)
