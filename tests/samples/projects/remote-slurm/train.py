import os

lr = 0.1
epochs = 1

loss = round(1.0 / (1 + lr * epochs), 4)
print("lr=%s loss=%s" % (lr, loss))
with open("model.txt", "w") as f:
    f.write("trained with lr=%s\n" % lr)
print("job %s" % ("yes" if os.environ.get("SLURM_JOB_ID") else "no"))
