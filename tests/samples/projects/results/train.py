import sys

x = 1.0
epochs = 3

for i in range(epochs):
    print("step: %i" % i)
    print("loss: %f" % (x / (i + 1)))
    print("acc: %f (valid)" % (0.5 + 0.1 * i))
print("val_loss: 0.123 (step 10)")
print("foo/bar: 7")
print("sys/gpu: 3")
print("x: 99")
sys.stderr.write("err_loss: 0.5\n")

with open("model.txt", "w") as f:
    f.write("model x=%s\n" % x)
