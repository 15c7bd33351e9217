"""Where operations come from: scripts, guild.yml, source code."""
