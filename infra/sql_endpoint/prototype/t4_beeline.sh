#!/bin/bash
# point 4 via beeline (guarded server, CUSTOM auth) + session-conf overlay probes
R=/tmp/i19; B=/work/main/.venv/lib/python3.11/site-packages/pyspark/bin/beeline; PORT=$(cat $R/run/port)
flt() { grep -vE "^\s+at |^\s*\.\.\. [0-9]+ more|^WARNING: Using incubator|^$|^Caused by" | cut -c1-230; }
for q in "CREATE FUNCTION f1 AS 'x.Y'" "ADD JAR /tmp/x.jar" "select reflect('java.lang.System','getProperty','user.name')" \
         "INSERT INTO gold.sales VALUES (9,'z',1.0)" "select * from parquet.\`$R/warehouse/raw_parquet\`" "SET spark.sql.runSQLOnFiles=true"; do
  echo "== beeline: $q"
  $B -u "jdbc:hive2://127.0.0.1:$PORT/default" -n alice -p secret1 --silent=true --outputformat=csv2 -e "$q" 2>&1 | flt | head -3
done
echo "== beeline with hiveconf overlay in URL (?spark.sql.runSQLOnFiles=true;spark.sql.ansi.enabled=false) then path read"
$B -u "jdbc:hive2://127.0.0.1:$PORT/default?spark.sql.runSQLOnFiles=true" -n alice -p secret1 --silent=true --outputformat=csv2 \
   -e "select count(*) from parquet.\`$R/warehouse/raw_parquet\`" 2>&1 | flt | head -3
echo "== pyhive configuration overlay {spark.sql.runSQLOnFiles: true}"
$R/venv/bin/python $R/pyhive_client.py --auth CUSTOM --user alice --password secret1 --config spark.sql.runSQLOnFiles=true \
   "select count(*) from parquet.\`$R/warehouse/raw_parquet\`"
echo "== data unchanged?"
$R/venv/bin/python $R/pyhive_client.py --auth CUSTOM --user alice --password secret1 "select count(*) from gold.sales" "show tables in default" "show user functions"
ls -d $R/warehouse/dir_out $R/warehouse/t_new $R/warehouse/t_ctas 2>&1
echo "== pyhive HS2 overlay set:hiveconf:spark.sql.runSQLOnFiles=true (pinned conf) then a normal query"
$R/venv/bin/python $R/pyhive_client.py --auth CUSTOM --user alice --password secret1 --config set:hiveconf:spark.sql.runSQLOnFiles=true \
   "select count(*) from gold.v_sales"
