# Writes `kb` kilobytes of output.
kb = 200

line = "x" * 1023 + "\n"
for _ in range(kb):
    print(line, end="")
