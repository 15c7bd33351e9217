"""``guild init``: make a Guild environment (a ``.guild`` directory, or a virtual env with requirements)."""

from __future__ import annotations

import os

import click

from luigi_guild.commands.common import confirm, note


@click.command("init", context_settings={"help_option_names": ["--help"]})
@click.argument("dir", metavar="[DIR]", required=False)
@click.option("--venv", is_flag=True, help="Create a virtual environment in DIR (implied by the options marked venv).")
@click.option("-n", "--name", metavar="NAME", help="Environment name (default is env parent directory name). Implies --venv.")
@click.option("-p", "--python", metavar="VERSION", help="Version of Python to use for the environment. Implies --venv.")
@click.option("-g", "--guild", metavar="VERSION_OR_PATH",
              help="Version of luigi-guild to install in the environment, or a path to its wheel "
              "(default: the running one is linked in). Implies --venv.")
@click.option("-s", "--system-site-packages", is_flag=True,
              help="Give environment access to system site packages. Implies --venv.")
@click.option("-H", "--no-isolate", is_flag=True,
              help="Use current Guild home for the environment. Ignored if --guild-home is specified.")
@click.option("-h", "--guild-home", metavar="PATH",
              help="Alternative Guild home location for the environment. By default, Guild home is '.guild' in DIR.")
@click.option("-r", "--requirement", "requirements", metavar="REQ", multiple=True,
              help="Install required package or packages defined in a file. May be used multiple times. Implies --venv.")
@click.option("-P", "--path", "paths", metavar="DIR", multiple=True,
              help="Include DIR as a Python path in the environment. Implies --venv.")
@click.option("--no-reqs", is_flag=True,
              help="Don't install from requirements.txt or guild.yml in environment parent directory. Implies --venv.")
@click.option("-l", "--isolate-resources", is_flag=True, help="Use a local cache when initializing an environment.")
@click.option("-y", "--yes", is_flag=True, help="Initialize a Guild environment without prompting.")
@click.option("--no-progress", is_flag=True,
              help="Don't show progress when installing environment packages. Ignored if a virtual environment is "
              "not created.")
@click.option("--pre", "pre_release", is_flag=True,
              help="Install pre-release versions of applicable packages. Implies --venv.")
def init(dir: str | None, venv: bool, name: str | None, python: str | None, guild: str | None,
         system_site_packages: bool, no_isolate: bool, guild_home: str | None, requirements: tuple[str, ...],
         paths: tuple[str, ...], no_reqs: bool, isolate_resources: bool, yes: bool, no_progress: bool,
         pre_release: bool) -> None:
    """Initialize a Guild environment.

    By default, creates `.guild` under DIR (the current directory if DIR is
    omitted). Guild home is then that `.guild` for commands run in DIR or
    below it (unless GUILD_HOME or -H is set).

    With `--venv` (or any option marked as implying it), DIR (default `venv`)
    becomes a virtual environment: the running luigi-guild is linked into it
    (`--guild` installs a given version or wheel instead), then the packages
    listed under `package: requires:` in guild.yml and those in
    requirements.txt (or given with `-r`) are installed with its pip.
    `--no-reqs` skips guild.yml and requirements.txt.

    Resources are cached in a shared `~/.guild/cache/resources` (the nearest
    `.guild/cache/resources` above DIR, if any) unless `--isolate-resources`.
    """
    from luigi_guild.model import home
    from luigi_guild.project import envinit

    venv = bool(venv or name or python or guild or system_site_packages or requirements or paths or no_reqs
                or pre_release)
    env_dir = os.path.abspath(dir or ("venv" if venv else "."))
    warnings: list[str] = []
    cwd = os.getcwd()
    user_reqs = requirements or (
        ("requirements.txt",) if not no_reqs and os.path.exists(os.path.join(cwd, "requirements.txt")) else ()
    )
    cfg = envinit.EnvConfig(
        env_dir=env_dir,
        venv=venv,
        name=envinit.env_name(name, env_dir),
        python=python,
        guild=guild,
        system_site_packages=system_site_packages,
        guild_home=guild_home or (home.guild_home() if no_isolate else None),
        user_reqs=tuple(user_reqs),
        guild_pkg_reqs=() if no_reqs else envinit.project_package_requires(cwd, warnings),
        paths=paths,
        isolate_resources=isolate_resources,
        pre=pre_release,
        no_progress=no_progress,
    )
    for w in warnings:
        note("WARNING: %s" % w)
    if venv and not yes:
        click.echo("You are about to initialize a Guild environment:")
        for label, val in cfg.prompt_params():
            if isinstance(val, tuple):
                click.echo("  %s:" % label)
                for item in val:
                    click.echo("    %s" % item)
            else:
                click.echo("  %s: %s" % (label, val))
        if not confirm("Continue?", default=True):
            return
    if venv and python:
        envinit.python_interpreter(python)  # fail before anything is made
    click.echo("Initializing Guild environment in %s" % envinit.format_dir(env_dir))
    envinit.init_guild_dir(env_dir, cfg.guild_home, isolate_resources, note)
    if not venv:
        return
    click.echo("Creating virtual environment")
    envinit.create_venv(cfg)
    click.echo("Upgrading pip")
    envinit.upgrade_pip(cfg)
    envinit.install_guild(cfg, click.echo)
    envinit.install_reqs(cfg, click.echo)
    envinit.add_paths(cfg)
    click.echo(
        "Guild environment initialized in %s\n\nTo activate it run:\n\n  %s\n"
        % (envinit.format_dir(env_dir), envinit.activate_hint(env_dir))
    )
