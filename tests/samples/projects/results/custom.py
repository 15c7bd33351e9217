print("Epoch 2: loss=0.5 acc=0.7")
print("val_loss=0.45 val_acc=0.4")
print("foo=>1.5 bar=>2.5")
print("loss: 9")
