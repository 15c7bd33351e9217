"""Not an operation in guild.yml: `guild run helper.py -r REMOTE` is refused."""

print("helper")
