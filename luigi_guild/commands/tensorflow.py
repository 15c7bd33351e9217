"""``guild tensorflow inspect``: list the tensors of a TensorFlow checkpoint or the ops of a graph."""

from __future__ import annotations

import os

import click

from luigi_guild.model.errors import ReportedError


@click.group("tensorflow")
def tensorflow() -> None:
    """Collection of TensorFlow tools."""


def _import_tensorflow() -> object:
    try:
        import tensorflow as tf  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        if "tensorflow" in str(e):
            text = (
                "TensorFlow is not installed.\n"
                "Refer to https://www.tensorflow.org/install/ for help installing TensorFlow on your system."
            )
        else:
            text = "Error loading TensorFlow: %s" % e
        raise ReportedError(text, text) from None
    return tf


@tensorflow.command("inspect")
@click.argument("path", metavar="PATH")
@click.option("--tensor-name", metavar="NAME", help="Name of the tensor to inspect.")
@click.option("--all-tensors", is_flag=True, help="Print the values of all the tensors.")
@click.option("--all-tensor-names", is_flag=True, help="Print the name of all the tensors")
def inspect(path: str, tensor_name: str | None, all_tensors: bool, all_tensor_names: bool) -> None:
    """Inspect a TensorFlow checkpoint or graph.

    PATH is a checkpoint (usually ending in '.ckpt') or a serialized graph
    (ending in '.pb').
    """
    tf: object = _import_tensorflow()
    if path.endswith(".pb"):
        _print_graph(tf, path)
    else:
        _print_checkpoint(tf, path, tensor_name, all_tensors, all_tensor_names)


def _print_graph(tf: object, path: str) -> None:  # pragma: no cover - needs TensorFlow
    v1 = getattr(getattr(tf, "compat"), "v1")
    graph_def = v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = v1.Graph()
    with graph.as_default():
        v1.import_graph_def(graph_def)
    for op in graph.get_operations():
        click.echo(op.name)
        for out in op.outputs:
            click.echo(out.name)


def _print_checkpoint(
    tf: object, path: str, tensor_name: str | None, all_tensors: bool, all_names: bool
) -> None:  # pragma: no cover - needs TensorFlow
    reader = getattr(getattr(tf, "train"), "load_checkpoint")(os.path.abspath(path))
    shapes = reader.get_variable_to_shape_map()
    if tensor_name:
        click.echo("tensor_name:  %s" % tensor_name)
        click.echo(str(reader.get_tensor(tensor_name)))
        return
    for name in sorted(shapes):
        if all_tensors:
            click.echo("tensor_name:  %s" % name)
            click.echo(str(reader.get_tensor(name)))
        elif all_names:
            click.echo("tensor_name:  %s" % name)
        else:
            click.echo("%s (%s) %s" % (name, reader.get_variable_to_dtype_map()[name].name, shapes[name]))
