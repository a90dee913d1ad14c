#!/bin/bash
# compile the auth provider + guard extension against the pyspark wheel's jars
set -e; cd /tmp/i19/java; P=/work/main/.venv/lib/python3.11/site-packages/pyspark
rm -rf classes; mkdir classes
javac -d classes -cp "$P/jars/*" src/i19/*.java
jar cf /tmp/i19/i19-thrift-guard.jar -C classes .
unzip -l /tmp/i19/i19-thrift-guard.jar | grep class
