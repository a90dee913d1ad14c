"""8 PyHive clients at once, each its own connection/session, each running a query 5 times."""
import sys, time, threading
from pyhive import hive
port = int(open("/tmp/i19/run/port").read())
auth = sys.argv[1] if len(sys.argv) > 1 else "NONE"
N, REPS = 8, 5
res, errs = {}, []
barrier = threading.Barrier(N)
def work(i):
    try:
        kw = dict(host="127.0.0.1", port=port, username="alice", auth=auth)
        if auth == "CUSTOM": kw["password"] = "secret1"
        conn = hive.connect(**kw); cur = conn.cursor()
        barrier.wait()
        out = []
        for _ in range(REPS):
            cur.execute(f"select {i} as client, count(*), sum(amount) from gold.v_sales")
            out.append(cur.fetchall()[0])
        res[i] = out; conn.close()
    except Exception as e:
        errs.append((i, repr(e)[:300]))
t0 = time.time()
ts = [threading.Thread(target=work, args=(i,)) for i in range(N)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"clients ok={len(res)} failed={len(errs)} queries={sum(len(v) for v in res.values())} wall={time.time()-t0:.1f}s")
for i in sorted(res): print(i, res[i][0], "x", len(res[i]))
for e in errs: print("ERR", e)
