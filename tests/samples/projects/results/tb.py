"""Writes its own event files: tensorboardX in logs/train, a float tensor scalar in logs/eval."""
import os

from tensorboardX import SummaryWriter

lr = 0.1

w = SummaryWriter("logs/train")
for step, loss in enumerate([0.9, 0.4, 0.6]):
    w.add_scalar("loss", loss * lr * 10, step)
w.close()

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

os.makedirs("logs/eval")
with open("logs/eval/events.out.tfevents.1.host.1.0", "wb") as f:
    rw = RecordWriter(f)
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.25])
    v = summary_pb2.Summary.Value(tag="accuracy", tensor=t)
    rw.write(event_pb2.Event(step=5, summary=summary_pb2.Summary(value=[v])).SerializeToString())
print("done")
