#!/bin/bash
# ctl.sh start [server.py args...] | stop
R=/tmp/i19
case "$1" in
start)
  shift
  rm -f $R/run/port $R/run/stop
  setsid /work/main/.venv/bin/python $R/server.py "$@" > $R/run/server.log 2>&1 < /dev/null &
  echo $! > $R/run/server.pid
  for i in $(seq 1 180); do
    [ -f $R/run/port ] && { echo "ready port=$(cat $R/run/port) pid=$(cat $R/run/server.pid)"; exit 0; }
    kill -0 $(cat $R/run/server.pid) 2>/dev/null || { echo "server died"; tail -30 $R/run/server.log; exit 1; }
    sleep 1
  done
  echo timeout; exit 1;;
stop)
  PID=$(cat $R/run/server.pid)
  touch $R/run/stop
  for i in $(seq 1 30); do kill -0 $PID 2>/dev/null || break; sleep 1; done
  kill -- -$PID 2>/dev/null; sleep 1; kill -9 -- -$PID 2>/dev/null
  echo "stopped $PID"; ps -eo pid,pgid,cmd | awk -v p=$PID '$2==p' ;;
esac
