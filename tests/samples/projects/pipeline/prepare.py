"""Write `size` samples to data.txt."""

size = 4

with open("data.txt", "w") as f:
    for i in range(size):
        f.write("%d\n" % i)
with open("notes.txt", "w") as f:
    f.write("not selected by train\n")
print("prepared %d samples" % size)
