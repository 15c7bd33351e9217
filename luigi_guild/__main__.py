"""Entry point for ``python -m luigi_guild``."""

from luigi_guild.entry import main

if __name__ == "__main__":
    main()
