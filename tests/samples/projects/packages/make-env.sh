#!/bin/sh
# make-env.sh DIR: a throwaway virtual env (no pip of its own) that sees the
# test environment's packages, with a `guild` command. Packages installed with
# its python go into DIR only.
set -eu
python -m venv --without-pip "$1"
purelib=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
parent=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$parent')" > "$purelib/parent.pth"
printf '#!/bin/sh\nexec "$(dirname "$0")/python" -m luigi_guild "$@"\n' > "$1/bin/guild"
chmod +x "$1/bin/guild"
