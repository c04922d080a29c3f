#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian machine: installs the real servers and
# clients the tests start (PostgreSQL 15, OpenSSH, an OIDC provider under Node.js) and libclang
# for the SQL parser's build, then builds once and runs all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
command -v psql >/dev/null || need+=(postgresql-client-15)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
# rsync over ssh is a file transfer the SSH tests check.
command -v rsync >/dev/null || need+=(rsync)
command -v runuser >/dev/null || need+=(util-linux)
# The SSH masking tests print a file through everyday tools on the host (`column`, `jq`).
command -v column >/dev/null || need+=(bsdextrautils)
command -v jq >/dev/null || need+=(jq)
# The interactive SSH test drives `ssh -tt` through a real pty with Python's pty module.
command -v python3 >/dev/null || need+=(python3)
# A test builds a BIG5 locale with localedef from Debian's locale sources.
[ -f /usr/share/i18n/locales/zh_TW ] || need+=(locales)
# pg_query compiles PostgreSQL's parser; bindgen needs libclang (and a C compiler) for that.
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v cc >/dev/null || need+=(gcc libc6-dev)
# The OIDC tests run a real provider (npm oidc-provider) under Node.js.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Drivers other than libpq: pgjdbc under Java (asyncpg comes from PyPI below). The JDBC client
# runs as a single source file, which needs the JDK's compiler, not only a runtime.
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The OIDC provider the identity tests start, exactly as its lock file says.
(cd hoop-harness/oidc && npm ci --no-audit --no-fund --silent)
# asyncpg and psycopg, the Python drivers the clients test runs.
python3 -c 'import asyncpg' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'asyncpg>=0.29,<1'
python3 -c 'import psycopg' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'psycopg[binary]>=3.1,<4'

# Docs are part of the product: broken links or missing docs fail the run.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace "$@"
