#!/usr/bin/env bash
# Starts a throw-away S3-compatible server for the tests: a one-monitor, one-OSD Ceph
# cluster (memstore, no mgr, no auth) with a RADOS Gateway on 127.0.0.1. Linux, root.
#   bash test/s3/rgw-up.sh DIR     installs the Debian packages when missing, then starts
#   bash test/s3/rgw-down.sh DIR   stops everything by pid and removes DIR
# Writes DIR/s3.env (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION) on success.
set -euo pipefail
D=${1:?usage: rgw-up.sh DIR}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-6789}
AK=larder-test-access
SK=larder-test-secret
say() { echo "[rgw] $*" >&2; }
fail() { say "$*"; for f in "$D"/log/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done; exit 1; }

if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null; then
  say "installing ceph-mon ceph-osd radosgw (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends ceph-mon ceph-osd radosgw curl >/dev/null
fi

rm -rf "$D"; mkdir -p "$D"/{run,log,mon.a,osd.0}
FSID=$(cat /proc/sys/kernel/random/uuid)
CONF="$D/ceph.conf"
cat > "$CONF" <<CONF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
keyring = $D/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
# commits in ~0.1 s instead of ~1 s each: start-up takes seconds, not tens of seconds
paxos propose interval = 0.05
paxos min wait = 0.01
osd crush chooseleaf type = 0
[mon]
mon data = $D/mon.\$id
mon cluster log file = $D/log/cluster.log
[osd]
osd data = $D/osd.\$id
osd objectstore = memstore
memstore device bytes = 4294967296
osd op num shards = 1
osd op num threads per shard = 2
osd max object size = 134217728
[client.rgw.a]
# tcp_nodelay: without it every small GET waits ~45 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
CONF

ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v1:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" || fail "mon mkfs failed"
ceph-mon -c "$CONF" -i a || fail "mon start failed"
CEPH="ceph -c $CONF --connect-timeout 30"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$($CEPH osd new "$OSD_UUID") || fail "mon not answering"
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd-mkfs.log" 2>&1 || fail "osd mkfs failed"
# ceph-osd exits at once about 1 start in 4 ("wrong fsid", a race with the monmap): retry.
for try in 1 2 3 4 5 6; do
  ceph-osd -c "$CONF" -i "$OSD_ID" >>"$D/log/osd-start.log" 2>&1 && break
  [ "$try" = 6 ] && fail "osd did not start"
  sleep 0.5
done
for i in $(seq 1 200); do
  $CEPH osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' && break
  [ "$i" = 200 ] && fail "osd did not come up"
  sleep 0.25
done
# Create radosgw's pools in one session; radosgw would otherwise make them one by one, slowly.
{
  for p in .rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
    echo "osd pool create $p 8 8"; echo "osd pool application enable $p rgw"
  done
} | $CEPH >/dev/null 2>&1 || fail "pool creation failed"
radosgw -c "$CONF" -n client.rgw.a || fail "radosgw start failed"
radosgw-admin -c "$CONF" user create --uid=larder --display-name=larder --access-key="$AK" --secret-key="$SK" >/dev/null || fail "user create failed"
for i in $(seq 1 200); do
  curl -fs -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break
  [ "$i" = 200 ] && fail "radosgw not answering"
  sleep 0.25
done
printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\nS3_REGION=us-east-1\n' "$RGW_PORT" "$AK" "$SK" > "$D/s3.env"
say "radosgw ready on http://127.0.0.1:$RGW_PORT"
