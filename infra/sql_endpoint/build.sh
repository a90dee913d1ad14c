#!/usr/bin/env bash
# Build the SQL endpoint's JVM classes (java/cdp/sql: the read-only guard and the login
# provider) into $1/cdp-sql-guard.jar (default .cache/jars, beside the Delta jars, so every
# session finds it) with the JDK's javac, against the pyspark wheel's own jars. Rebuilt only
# when a source changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../.cache/jars}"
py="${PY:-$here/../../.venv/bin/python}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# Rebuilt when a source or the pyspark wheel (whose jars it compiles against) changes.
version="$("$py" -c 'import pyspark; print(pyspark.__version__)')"
stamp="$out/.cdp-sql-guard-$( (cat "$here"/java/cdp/sql/*.java; echo "$version") | sha1sum | cut -c1-12)"
if [[ -f "$stamp" && -f "$out/cdp-sql-guard.jar" ]]; then
  exit 0
fi
if ! command -v javac >/dev/null; then
  echo "error: javac not found: the SQL endpoint's guard needs a JDK (17 or later)" >&2
  exit 1
fi
spark_jars="$("$py" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 17 -nowarn -d "$classes" -cp "$spark_jars/*" "$here"/java/cdp/sql/*.java
# A new file moved into place: a JVM running with the old jar keeps reading its own inode.
jar cf "$classes/cdp-sql-guard.jar" -C "$classes" cdp
mv -f "$classes/cdp-sql-guard.jar" "$out/cdp-sql-guard.jar"
rm -f "$out"/.cdp-sql-guard-*
touch "$stamp"
echo "built $out/cdp-sql-guard.jar" >&2
