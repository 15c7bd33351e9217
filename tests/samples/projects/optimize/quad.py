"""A quadratic bowl with its minimum at x=2, y=-1: prints loss (to minimize) and score (to maximize)."""

x = 0.0
y = 0.0

loss = (x - 2) ** 2 + (y + 1) ** 2
print("loss: %f" % loss)
print("score: %f" % -loss)
