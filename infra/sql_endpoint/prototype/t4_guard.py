"""point 4: run a list of statements through PyHive (CUSTOM auth) and report OK/FAIL + error text."""
import sys
from pyhive import hive
port = int(open("/tmp/i19/run/port").read())
auth = sys.argv[1] if len(sys.argv) > 1 else "CUSTOM"
conf = dict(x.split("=", 1) for x in sys.argv[2].split(",")) if len(sys.argv) > 2 else None
W = "/tmp/i19/warehouse"
STMTS = [
  # allowed reads
  "select * from gold.v_sales", "select count(*) from gold.sales", "select count(*) from gold.v_sales_path",
  "select count(*) from global_temp.g_sales", "show tables in gold", "describe gold.sales", "use gold",
  "select id from range(2)", "select (select max(amount) from gold.sales) m",
  # functions / jars / files
  "CREATE FUNCTION f1 AS 'org.apache.hadoop.hive.ql.udf.UDFPI'",
  "CREATE TEMPORARY FUNCTION f2 AS 'org.apache.hadoop.hive.ql.udf.UDFPI'",
  "ADD JAR /tmp/i19/i19-thrift-guard.jar", "ADD FILE /etc/hostname", "LIST JARS",
  "select reflect('java.lang.System','getProperty','user.name')",
  "select java_method('java.lang.System','getenv','HOME')",
  "select try_reflect('java.lang.System','getProperty','user.name')",
  "select * from gold.sales where name = reflect('java.lang.String','valueOf','b')",
  # writes / DDL
  "INSERT INTO gold.sales VALUES (9,'z',1.0)",
  f"INSERT OVERWRITE DIRECTORY '{W}/dir_out' USING parquet SELECT 1 AS x",
  "CREATE TABLE t_new (a int) USING parquet", "CREATE TABLE t_ctas USING parquet AS SELECT 1 AS a",
  "CREATE VIEW v_new AS SELECT 1 AS a", "CREATE TEMPORARY VIEW tv_new AS SELECT 1 AS a",
  f"CREATE TEMPORARY VIEW tv_path USING parquet OPTIONS (path '{W}/raw_parquet')",
  "DROP TABLE gold.sales", "DROP VIEW gold.v_sales", "ALTER TABLE gold.sales SET TBLPROPERTIES ('x'='y')",
  "DELETE FROM gold.sales WHERE id = 1", "UPDATE gold.sales SET amount = 0 WHERE id = 1",
  "MERGE INTO gold.sales t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE",
  "TRUNCATE TABLE gold.sales", "CACHE TABLE gold.sales", "REFRESH TABLE gold.sales", "ANALYZE TABLE gold.sales COMPUTE STATISTICS",
  # path-based reads
  f"select * from delta.`{W}/sales_delta`", f"select * from parquet.`{W}/raw_parquet`", "select * from text.`/etc/hostname`",
  f"select * from gold.sales where id in (select id from parquet.`{W}/raw_parquet`)",
  f"with c as (select * from parquet.`{W}/raw_parquet`) select count(*) from c",
  # SET / RESET
  "SET spark.sql.runSQLOnFiles=true", "SET", "SET -v", "RESET", "EXPLAIN select * from gold.sales",
]
kw = dict(host="127.0.0.1", port=port, username="alice", auth=auth)
if auth == "CUSTOM": kw["password"] = "secret1"
if conf: kw["configuration"] = conf
conn = hive.connect(**kw)
cur = conn.cursor()
ok = fail = 0
for q in STMTS:
    try:
        cur.execute(q)
        rows = cur.fetchall() if cur.description else []
        ok += 1
        print(f"OK   {q}  -> {str(rows)[:90]}")
    except Exception as e:
        fail += 1
        st = getattr(e.args[0], "status", None) if e.args else None
        msg = st.errorMessage if st is not None else str(e)
        print(f"FAIL {q}  -> {msg.splitlines()[0][:230]}")
print(f"{ok} ok, {fail} refused")
