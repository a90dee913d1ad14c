#!/usr/bin/env bash
# Resolve the pipeline's JVM jars from Maven Central once and cache them in $1 (default
# .cache/jars). Later runs find the stamp file and need no network.
# Only the io.delta and io.graphframes artifacts are kept: their other runtime dependencies
# (parquet, log4j, snappy, scala-library, ...) ship with the pyspark wheel already, and a
# second copy of them on the class path breaks Spark.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../.cache/jars}"
mkdir -p "$out"
# Absolute: Maven resolves a relative outputDirectory against the pom's folder (infra/).
out="$(cd "$out" && pwd)"
stamp="$out/.complete-$(sha1sum "$here/pom.xml" | cut -c1-12)"
if [[ -f "$stamp" ]]; then
  exit 0
fi
copy() {
  mvn -q -B -f "$here/pom.xml" "$@" dependency:copy-dependencies \
    -DoutputDirectory="$out" -DincludeScope=runtime -DincludeGroupIds=io.delta,io.graphframes
}
echo "fetching Delta jars from Maven Central into $out" >&2
copy
# GraphFrames is optional at this layer: when Maven Central does not serve it the session
# starts without it and identity resolution reports the missing jar by name.
if copy -Pgraphframes >/dev/null 2>&1; then
  echo "GraphFrames jars cached" >&2
else
  echo "warning: GraphFrames jar (io.graphframes:graphframes-spark4_2.13) could not be fetched from Maven Central; continuing without it" >&2
fi
if ! ls "$out"/delta-spark_*.jar >/dev/null 2>&1; then
  echo "error: Delta jar missing from $out after the Maven fetch" >&2
  exit 1
fi
touch "$stamp"
ls "$out" >&2
