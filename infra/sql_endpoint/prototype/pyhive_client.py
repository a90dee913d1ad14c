"""PyHive DB-API client. usage: pyhive_client.py [--auth NONE|CUSTOM] [--user U] [--password P] SQL..."""
import argparse, sys
from pyhive import hive
ap = argparse.ArgumentParser()
ap.add_argument("--auth", default="NONE"); ap.add_argument("--user", default="user")
ap.add_argument("--password", default=None); ap.add_argument("--config", default=None)
ap.add_argument("sql", nargs="+")
a = ap.parse_args()
port = int(open("/tmp/i19/run/port").read())
kw = dict(host="127.0.0.1", port=port, username=a.user, auth=a.auth, database="default")
if a.auth in ("CUSTOM", "LDAP"):
    kw["password"] = a.password
if a.config:  # k=v,k=v -> sent as openSession configuration
    kw["configuration"] = dict(x.split("=", 1) for x in a.config.split(","))
try:
    conn = hive.connect(**kw)
except Exception as e:
    print(f"CONNECT FAILED: {type(e).__name__}: {e}"); sys.exit(2)
cur = conn.cursor()
for q in a.sql:
    try:
        cur.execute(q)
        rows = cur.fetchall() if cur.description else []
        print(f"OK   {q!r} -> {rows}")
    except Exception as e:
        st = getattr(e.args[0], "status", None) if e.args else None
        msg = st.errorMessage if st is not None else str(e)
        print(f"FAIL {q!r} -> {type(e).__name__}: {msg.splitlines()[0][:300]}")
conn.close()
