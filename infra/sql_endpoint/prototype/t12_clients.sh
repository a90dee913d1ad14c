#!/bin/bash
# point 1+2: beeline and PyHive against the running server (no auth)
R=/tmp/i19; B=/work/main/.venv/lib/python3.11/site-packages/pyspark/bin/beeline; PORT=$(cat $R/run/port)
echo "== beeline"
$B -u "jdbc:hive2://127.0.0.1:$PORT/default" -n user -p pass --silent=true --outputformat=csv2 \
  -e "select * from gold.v_sales; select count(*) from global_temp.g_sales; select count(*) from gold.v_sales_path; select count(*) from t_sales;" 2>&1 \
  | grep -vE "^\s+at |^\s*\.\.\. [0-9]+ more|^WARNING: Using incubator" | cut -c1-220 | grep -v "^$" | head -20
echo "== pyhive"
$R/venv/bin/python $R/pyhive_client.py "select * from gold.v_sales" "select count(*) from global_temp.g_sales" \
  "select count(*) from gold.v_sales_path" "select count(*) from t_sales" "show tables in gold"
