#!/bin/bash
# point 4b: server started with spark.sql.runSQLOnFiles=false and NO guard extension
R=/tmp/i19; W=$R/warehouse
echo "== pyhive: path reads, then SET it back in the same session"
$R/venv/bin/python $R/pyhive_client.py "select count(*) from parquet.\`$W/raw_parquet\`" "select count(*) from delta.\`$W/sales_delta\`" \
  "SET spark.sql.runSQLOnFiles" "SET spark.sql.runSQLOnFiles=true" "select count(*) from parquet.\`$W/raw_parquet\`" "select count(*) from delta.\`$W/sales_delta\`"
echo "== pyhive: new session, conf overlay at openSession (configuration={'spark.sql.runSQLOnFiles':'true'})"
$R/venv/bin/python $R/pyhive_client.py --config spark.sql.runSQLOnFiles=true "select count(*) from parquet.\`$W/raw_parquet\`"
echo "== pyhive: new session, no overlay (is the SET from the other session leaking?)"
$R/venv/bin/python $R/pyhive_client.py "select count(*) from parquet.\`$W/raw_parquet\`" "select reflect('java.lang.System','getProperty','user.name')"
echo "== pyhive: conf overlay with HS2 prefix (configuration={'set:hiveconf:spark.sql.runSQLOnFiles':'true'})"
$R/venv/bin/python $R/pyhive_client.py --config set:hiveconf:spark.sql.runSQLOnFiles=true "select count(*) from parquet.\`$W/raw_parquet\`"
echo "== beeline: hive_conf_list in URL (jdbc:hive2://.../default?spark.sql.runSQLOnFiles=true)"
/work/main/.venv/lib/python3.11/site-packages/pyspark/bin/beeline -u "jdbc:hive2://127.0.0.1:$(cat $R/run/port)/default?spark.sql.runSQLOnFiles=true" -n u -p p --silent=true --outputformat=csv2 \
  -e "select count(*) from parquet.\`$W/raw_parquet\`" 2>&1 | grep -vE "^\s+at |incubator|^$" | cut -c1-200 | head -4
