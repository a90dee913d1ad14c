# why is a persistent view over delta.`path` refused? print plan node classes + stack of the refusal
import glob, os
from pyspark.sql import SparkSession
R="/tmp/i19"
dj=[j for j in glob.glob("/work/main/.cache/jars/*.jar") if os.path.basename(j).startswith(("delta-spark","delta-storage"))]
spark=(SparkSession.builder.master("local[1]").config("spark.driver.memory","1g").config("spark.ui.enabled","false")
  .config("spark.sql.shuffle.partitions","2")
  .config("spark.driver.extraClassPath",":".join([f"{R}/i19-thrift-guard.jar"]+dj))
  .config("spark.sql.extensions","io.delta.sql.DeltaSparkSessionExtension,i19.GuardExtension")
  .config("spark.sql.catalog.spark_catalog","org.apache.spark.sql.delta.catalog.DeltaCatalog")
  .config("spark.sql.warehouse.dir",f"{R}/warehouse").getOrCreate())
spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW vp AS SELECT * FROM delta.`{R}/warehouse/sales_delta`")
spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW vq AS SELECT * FROM parquet.`{R}/warehouse/raw_parquet`")
G=spark._jvm.i19.GuardExtension
G.debug=True
spark.sql(f"CREATE OR REPLACE VIEW default.pv AS SELECT * FROM parquet.`{R}/warehouse/raw_parquet`")
s2=spark.newSession()
G.arm()
for v in ("vq","vp","default.pv"):
    try:
        print(v, "OK", s2.sql(f"select count(*) from {v}").collect()) if False else None
        # temp views are session-local: query via the same session but not exempt
        print(v, "OK", spark.sql(f"select count(*) from {v}").collect())
    except Exception as e:
        print(v, "REFUSED", [l for l in str(e).splitlines() if "i19 guard" in l][:1])
        jt = e.java_exception if hasattr(e, "java_exception") else None
        if jt is not None:
            for fr in list(jt.getStackTrace())[:400]:
                s=str(fr.toString())
                if any(k in s for k in ("i19","Analyzer","CheckAnalysis","delta","View","QueryExecution")): print("   ", s)
G.disarm(); print(spark.sql(f"select * from {'vp'}")._jdf.queryExecution().analyzed().toString())
spark.stop()
