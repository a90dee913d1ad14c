#!/bin/bash
# point 3: CUSTOM auth (i19.FileAuthProvider) - right and wrong passwords, beeline and PyHive
R=/tmp/i19; B=/work/main/.venv/lib/python3.11/site-packages/pyspark/bin/beeline; PORT=$(cat $R/run/port)
flt() { grep -vE "^\s+at |^\s*\.\.\. [0-9]+ more|^WARNING: Using incubator|^$" | cut -c1-260 | head -${1:-8}; }
echo "== beeline alice/secret1 (right)"
$B -u "jdbc:hive2://127.0.0.1:$PORT/default" -n alice -p secret1 --silent=true --outputformat=csv2 -e "select count(*) from gold.v_sales" 2>&1 | flt
echo "== beeline alice/WRONG"
$B -u "jdbc:hive2://127.0.0.1:$PORT/default" -n alice -p WRONG --silent=true -e "select 1" 2>&1 | flt; echo "beeline exit=${PIPESTATUS[0]}"
echo "== beeline mallory/secret1 (unknown user)"
$B -u "jdbc:hive2://127.0.0.1:$PORT/default" -n mallory -p secret1 --silent=true -e "select 1" 2>&1 | flt
echo "== pyhive CUSTOM bob/hunter2 (right)"
$R/venv/bin/python $R/pyhive_client.py --auth CUSTOM --user bob --password hunter2 "select count(*) from gold.v_sales"
echo "== pyhive CUSTOM bob/WRONG"
$R/venv/bin/python $R/pyhive_client.py --auth CUSTOM --user bob --password WRONG "select 1"; echo "exit=$?"
echo "== pyhive NONE (no password) against CUSTOM server"
$R/venv/bin/python $R/pyhive_client.py --auth NONE --user bob "select 1" 2>&1 | tail -2
