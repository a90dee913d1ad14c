#!/bin/bash
# point 1 alternative: standalone server via spark-submit --class HiveThriftServer2 (no Python process)
R=/tmp/i19; PB=/work/main/.venv/lib/python3.11/site-packages/pyspark/bin
DJ=$(ls /work/main/.cache/jars/delta-spark_*.jar /work/main/.cache/jars/delta-storage-*.jar | tr '\n' ':')
PORT=$((20000 + RANDOM % 10000))
rm -f $R/run/port; mkdir -p $R/run
setsid $PB/spark-submit --master 'local[1]' --driver-memory 1g \
  --conf spark.sql.shuffle.partitions=2 --conf spark.ui.enabled=false \
  --conf spark.driver.extraClassPath=$R/i19-thrift-guard.jar:$DJ \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.warehouse.dir=$R/warehouse --conf spark.sql.catalogImplementation=hive \
  --conf "spark.driver.extraJavaOptions=-Dderby.system.home=$R/metastore -Dhive.server2.custom.authentication.class=i19.FileAuthProvider -Di19.thrift.users.file=$R/users.txt" \
  --conf spark.hadoop.javax.jdo.option.ConnectionURL="jdbc:derby:;databaseName=$R/metastore/metastore_db;create=true" \
  --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 spark-internal \
  --hiveconf hive.server2.thrift.bind.host=127.0.0.1 --hiveconf hive.server2.thrift.port=$PORT \
  --hiveconf hive.server2.authentication=CUSTOM > $R/run/submit.log 2>&1 < /dev/null &
echo $! > $R/run/server.pid
for i in $(seq 1 120); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 1; done
echo $PORT > $R/run/port; echo "port=$PORT pid=$(cat $R/run/server.pid) after ${i}s"
$PB/beeline -u "jdbc:hive2://127.0.0.1:$PORT/default" -n alice -p secret1 --silent=true --outputformat=csv2 \
  -e "show tables in gold; select count(*) from gold.v_sales;" 2>&1 | grep -vE "incubator|^$"
$PB/beeline -u "jdbc:hive2://127.0.0.1:$PORT/default" -n alice -p nope --silent=true -e "select 1" 2>&1 | grep "^Error"
