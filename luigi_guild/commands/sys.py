"""``guild sys``: system services (``shutdown-timer``, ``s3-sync``) started, stopped and checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import click

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.run.services import Loop, Service


@click.group("sys")
def sys_() -> None:
    """System utilities."""


@sys_.group("shutdown-timer")
def shutdown_timer() -> None:
    """Shut this machine down once no run has been running for a while."""


@shutdown_timer.command("start")
@click.option(
    "-t", "--timeout", type=click.FloatRange(min=0, min_open=True), default=60, metavar="MINUTES",
    help="Minutes without a running run before the shutdown (default is 60).",
)
@click.option("-s", "--su", is_flag=True, help="Run the shutdown command with sudo.")
@click.option("-f", "--foreground", is_flag=True, help="Run in the foreground.")
@click.option(
    "-g", "--grace-period", type=click.IntRange(min=0), default=1, metavar="MINUTES",
    help="Minutes given to 'shutdown +MINUTES' (default 1).",
)
@click.option("-d", "--dont-shutdown", is_flag=True, help="Only log that the shutdown would happen (for testing).")
@click.option(
    "--command", "command", metavar="CMD",
    help="Run CMD (split like a shell command line) instead of 'shutdown +GRACE' (our addition).",
)
def timer_start(timeout: float, su: bool, foreground: bool, grace_period: int, dont_shutdown: bool,
                command: Optional[str]) -> None:
    """Start the shutdown timer.

    The timer checks every few seconds whether a run is running in this Guild
    home. Once none has been for --timeout minutes, it runs `shutdown
    +GRACE` (with sudo when --su is given) and ends. Its log is
    GUILD_HOME/log/shutdown-timer (stderr with --foreground).
    """
    import shlex

    from luigi_guild.model.errors import GuildError
    from luigi_guild.run import services

    if command is not None:
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise GuildError("invalid --command: %s" % e) from None
        if not argv:
            raise GuildError("invalid --command: it is empty")
    else:
        argv = services.shutdown_command(grace_period, su)
    settings = services.TimerSettings(timeout=timeout, command=argv, dont_shutdown=dont_shutdown)
    _start(services.SHUTDOWN_TIMER, services.shutdown_timer(settings), foreground)


@shutdown_timer.command("stop")
def timer_stop() -> None:
    """Stop the shutdown timer."""
    from luigi_guild.run import services

    _stop(services.SHUTDOWN_TIMER)


@shutdown_timer.command("status")
def timer_status() -> None:
    """Show whether the shutdown timer is running."""
    from luigi_guild.run import services

    _status(services.SHUTDOWN_TIMER)


@sys_.group("s3-sync")
def s3_sync() -> None:
    """Copy the runs to S3 again and again with the AWS command line."""


@s3_sync.command("start")
@click.argument("uri", metavar="URI")
@click.option(
    "-i", "--sync-interval", type=click.IntRange(min=5), default=60, metavar="SECONDS",
    help="Seconds between the starts of two syncs (default is 60).",
)
@click.option(
    "-m", "--log-max-size", type=click.IntRange(min=1), default=100, metavar="MB",
    help="Size in megabytes at which the log is rotated (default is 100).",
)
@click.option(
    "-b", "--log-backups", type=click.IntRange(min=0), default=5, metavar="N",
    help="Rotated logs to keep when run as a service (default is 5).",
)
@click.option("-f", "--foreground", is_flag=True, help="Run in the foreground.")
def s3_start(uri: str, sync_interval: int, log_max_size: int, log_backups: int, foreground: bool) -> None:
    """Start the S3 sync service.

    Every --sync-interval seconds the service runs `aws s3 sync --delete
    --size-only` from this Guild home's runs directory to URI/runs/. URI is
    s3://BUCKET[/PATH] with a bucket you can write to. The AWS command line
    (`aws`) must be installed; it reads the credentials and region the usual
    way (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, or its
    own config). Its log is GUILD_HOME/log/s3-sync (stderr with --foreground).
    """
    from luigi_guild.run import services

    aws = services.check_aws_cli()
    target = services.s3_uri(uri)
    loop = services.s3_sync(target, sync_interval, aws)
    _start(services.S3_SYNC, loop, foreground, log_max_size * 1024 * 1024, log_backups)


@s3_sync.command("stop")
def s3_stop() -> None:
    """Stop the S3 sync service."""
    from luigi_guild.run import services

    _stop(services.S3_SYNC)


@s3_sync.command("status")
def s3_status() -> None:
    """Show whether the S3 sync service is running."""
    from luigi_guild.run import services

    _status(services.S3_SYNC)


def _start(service: "Service", loop: "Loop", foreground: bool, log_max_size: Optional[int] = None,
           log_backups: Optional[int] = None) -> None:
    from luigi_guild.run import services

    if not foreground:
        # Checked before the message, so a second start says only that it runs.
        if services.status(service).running:
            from luigi_guild.model.errors import GuildError

            raise GuildError("%s is already running (use '%s' to verify)" % (service.title, service.status_cmd))
        click.echo("Starting %s (use '%s' to stop)" % (service.title, service.stop_cmd))
    services.start(
        service,
        loop,
        foreground,
        log_max_size=log_max_size or services.DEFAULT_LOG_MAX_SIZE,
        log_backups=services.DEFAULT_LOG_BACKUPS if log_backups is None else log_backups,
    )


def _stop(service: "Service") -> None:
    from luigi_guild.run import services

    state = services.status(service)
    if not state.running:
        if state.stale:
            services.stop(service)
            click.echo("%s did not shut down cleanly - cleaned up" % service.title)
        else:
            click.echo("%s is not running" % service.title)
        return
    click.echo("Stopping %s (pid %s)" % (service.title, state.pid))
    services.stop(service)


def _status(service: "Service") -> None:
    from luigi_guild.run import services

    state = services.status(service)
    if state.running:
        click.echo("%s is running (pid %s)" % (service.title, state.pid))
    elif state.stale:
        click.echo(
            "%s is NOT running (orphaned pid in %s - use '%s' to cleanup)" % (service.title, service.pidfile, service.stop_cmd)
        )
    else:
        click.echo("%s is not running" % service.title)
