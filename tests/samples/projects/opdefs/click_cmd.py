import click


@click.command()
@click.option("--epochs", default=3, type=int, help="Passes over the data")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd")
@click.option("--verbose", is_flag=True, help="Say more")
def main(epochs, optimizer, verbose):
    print("epochs=%s optimizer=%s verbose=%s" % (epochs, optimizer, verbose))


if __name__ == "__main__":
    main()
