"""Embedded Spark Thrift server (HiveServer2 protocol) started from PySpark.

usage: server.py [--hive] [--auth] [--guard] [--single-session] [--no-runsqlonfiles]
                 [--start=context|session] [--port N]
Writes /tmp/i19/run/port when ready; stops on SIGTERM/SIGINT or when /tmp/i19/run/stop exists.
"""
import argparse, glob, os, signal, socket, sys, time

R = "/tmp/i19"
ap = argparse.ArgumentParser()
ap.add_argument("--hive", action="store_true")
ap.add_argument("--auth", action="store_true")
ap.add_argument("--guard", action="store_true")
ap.add_argument("--single-session", action="store_true")
ap.add_argument("--no-runsqlonfiles", action="store_true")
ap.add_argument("--start", default="context", choices=["context", "session"])
ap.add_argument("--port", type=int, default=0)
a = ap.parse_args()

def free_port():
    # NOT port 0 / an ephemeral port: the Spark driver (RPC, block manager, py4j) grabs
    # ephemeral ports while starting up and once took the one picked here ("Address already
    # in use" at startWithSparkSession). Pick below the ephemeral range (32768+).
    import random
    for _ in range(200):
        p = random.randint(20000, 30000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); return p
        except OSError:
            continue
        finally:
            s.close()
    raise SystemExit("no free port")

port = a.port or free_port()
for f in ("port", "stop"):
    try: os.remove(f"{R}/run/{f}")
    except FileNotFoundError: pass

from pyspark.sql import SparkSession
delta_jars = [j for j in glob.glob("/work/main/.cache/jars/*.jar")
              if os.path.basename(j).startswith(("delta-spark", "delta-storage"))]
java_opts = []
if a.hive:
    java_opts.append("-Dderby.system.home=%s/metastore" % R)
ext = ["io.delta.sql.DeltaSparkSessionExtension"]
b = (SparkSession.builder.master("local[1]").appName("i19-thrift")
     .config("spark.driver.memory", "1g")
     .config("spark.sql.shuffle.partitions", "2")
     .config("spark.ui.enabled", "false")
     .config("spark.ui.showConsoleProgress", "false")
     # Delta + guard jars on the *system* classpath: Thrift handler threads create sessions
     # with the app class loader, so jars only in spark.jars give ClassNotFoundException
     # (DeltaCatalog) at JDBC openSession.
     .config("spark.driver.extraClassPath", ":".join([f"{R}/i19-thrift-guard.jar"] + delta_jars))
     .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
     .config("spark.sql.warehouse.dir", f"{R}/warehouse")
     .config("spark.databricks.delta.snapshotPartitions", "2")
     # HiveServer2 settings: every SparkConf entry is copied into the execution HiveConf
     .config("hive.server2.thrift.bind.host", "127.0.0.1")
     .config("hive.server2.thrift.port", str(port))
     .config("hive.server2.transport.mode", "binary")
     .config("hive.server2.thrift.min.worker.threads", "2")
     .config("hive.server2.thrift.max.worker.threads", "16")
     .config("spark.sql.hive.thriftServer.singleSession", str(a.single_session).lower()))
if a.hive:
    b = (b.config("spark.sql.catalogImplementation", "hive")
          .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                  f"jdbc:derby:;databaseName={R}/metastore/metastore_db;create=true"))
if a.auth:
    b = b.config("hive.server2.authentication", "CUSTOM")
    # CustomAuthenticationProviderImpl does `new HiveConf()`, so the class name must be a
    # system property (or in a hive-site.xml on the classpath), not only a SparkConf entry.
    java_opts += ["-Dhive.server2.authentication=CUSTOM",
                  "-Dhive.server2.custom.authentication.class=i19.FileAuthProvider",
                  f"-Di19.thrift.users.file={R}/users.txt"]
if a.guard:
    ext.append("i19.GuardExtension")
if a.no_runsqlonfiles:
    b = b.config("spark.sql.runSQLOnFiles", "false")
b = b.config("spark.sql.extensions", ",".join(ext))
b = b.config("spark.driver.extraJavaOptions", " ".join(java_opts))
if a.hive:
    b = b.enableHiveSupport()
spark = b.getOrCreate()
jvm = spark._jvm
print("spark", spark.version, "catalog", spark.conf.get("spark.sql.catalogImplementation"), flush=True)

# ---- data + views, created by the admin session before the guard is armed ----
if a.no_runsqlonfiles:
    # the builder value is the default for every new (client) session; the admin session
    # needs path SQL for its own setup (CREATE VIEW ... FROM delta.`path`)
    spark.conf.set("spark.sql.runSQLOnFiles", "true")
tbl_path = f"{R}/warehouse/sales_delta"
df = spark.createDataFrame([(1, "a", 10.0), (2, "b", 20.0), (3, "c", 30.5)], "id int, name string, amount double")
df.write.format("delta").mode("overwrite").save(tbl_path)
df.write.mode("overwrite").parquet(f"{R}/warehouse/raw_parquet")
spark.sql("CREATE DATABASE IF NOT EXISTS gold")
spark.sql(f"CREATE TABLE IF NOT EXISTS gold.sales USING delta LOCATION '{tbl_path}'")
spark.sql("CREATE OR REPLACE VIEW gold.v_sales AS SELECT id, name, amount FROM gold.sales WHERE amount > 15")
spark.sql(f"CREATE OR REPLACE VIEW gold.v_sales_path AS SELECT * FROM delta.`{tbl_path}`")
spark.table("gold.sales").createOrReplaceTempView("t_sales")
spark.table("gold.sales").createOrReplaceGlobalTempView("g_sales")
print("admin sees:", [r.id for r in spark.sql("select id from gold.v_sales").collect()], flush=True)

if a.guard:
    G = jvm.i19.GuardExtension
    G.exempt(spark._jsparkSession)   # the admin session stays unrestricted
    if a.no_runsqlonfiles:
        G.pin("spark.sql.runSQLOnFiles", "false")
    G.arm()
    print("guard armed:", G.isArmed(), flush=True)

if a.start == "context":
    srv = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext())
else:
    srv = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithSparkSession(
        spark._jsparkSession, False)

# wait for the port to accept
for _ in range(120):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close(); break
    except OSError:
        time.sleep(0.5)
with open(f"{R}/run/port", "w") as f:
    f.write(str(port))
print(f"THRIFT READY port={port} pid={os.getpid()}", flush=True)

stop = {"v": False}
signal.signal(signal.SIGTERM, lambda *x: stop.update(v=True))
signal.signal(signal.SIGINT, lambda *x: stop.update(v=True))
while not stop["v"] and not os.path.exists(f"{R}/run/stop"):
    time.sleep(1)
print("stopping", flush=True)
srv.stop()
spark.stop()
