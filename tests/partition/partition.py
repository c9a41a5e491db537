#!/usr/bin/env python3
"""Two Yunying nodes on two network hosts, each partitioned in turn (issue 24).

    scripts/partition-test.sh        (as root: it builds the binary, starts
                                      the S3 server and runs this)

Each node runs in a network namespace of its own (`ip netns`), joined to this
host by a veth link; PostgreSQL (a cluster of this script's own, listening on
the links' host-side addresses) and the S3 server (Garage, reached through
tests/py/s3_fault_proxy.py listening on those addresses) are on this host. A
partition is iptables dropping a node's packets to a service: silent, as a
cut cable or a dead switch port is, not a refused connection.

1. Node A loses PostgreSQL and S3 in the middle of a four-association
   ingest, with renditions on, for longer than the rendition lease (15 s);
   node B takes a series meanwhile and takes over A's rendition jobs when
   their leases run out. Healed, A serves again by itself; what A refused is
   sent again.
2. Node B loses only S3 while a series arrives: nothing is acknowledged
   without its object (the C-STORE caught by the cut waits for its PUT; the
   sender, with a modality's usual 30 s DIMSE timeout, gives up first);
   healed, the rest is sent again.

Then the archive's invariants: every instance acknowledged by either node
is indexed and every indexed object is intact (`yunying verify` against the
index's digests), every rendition job is done (none running, none parked),
each instance has one thumbnail and no rendition was recorded twice, no
spool file is left on either node, and both nodes stop gracefully (exit 0).
Prints what it does; exits 0 when every check holds, 1 otherwise.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NET = "10.78"
NODES = {"a": 1, "b": 2}  # namespace yy-part-a on 10.78.1.0/24, b on 10.78.2.0/24


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)
    log(f"ok: {what}")


class Network:
    """A namespace per node, a veth link each to this host."""

    def __init__(self):
        self.up = []

    def create(self):
        for name, n in NODES.items():
            ns, host_if, node_if = f"yy-part-{name}", f"yyp{name}", f"yyp{name}n"
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "link", "del", host_if, check=False)
            sh("ip", "netns", "add", ns)
            self.up.append(name)
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", node_if)
            sh("ip", "link", "set", node_if, "netns", ns)
            sh("ip", "addr", "add", f"{NET}.{n}.1/24", "dev", host_if)
            sh("ip", "link", "set", host_if, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{NET}.{n}.2/24", "dev", node_if)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", node_if, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    @staticmethod
    def gateway(name):
        return f"{NET}.{NODES[name]}.1"

    @staticmethod
    def exec(name):
        return ["ip", "netns", "exec", f"yy-part-{name}"]

    def partition(self, name, port=None):
        """Drop the node's packets to this host (to one port of it, if given)."""
        rule = ["-d", self.gateway(name)] + (["-p", "tcp", "--dport", str(port)] if port else []) + ["-j", "DROP"]
        sh(*self.exec(name), "iptables", "-A", "OUTPUT", *rule)

    def heal(self, name):
        sh(*self.exec(name), "iptables", "-F", "OUTPUT")

    def remove(self):
        for name in self.up:
            sh("ip", "netns", "del", f"yy-part-{name}", check=False)
            sh("ip", "link", "del", f"yyp{name}", check=False)


class Postgres:
    """A cluster of our own on the links' host-side addresses."""

    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        self.port = free_port()
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql"))
        self.bin = f"/usr/lib/postgresql/{bins[-1]}/bin"

    def as_postgres(self, *cmd):
        return sh("runuser", "-u", "postgres", "--", *cmd)

    def start(self):
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres")
        data = os.path.join(self.dir, "data")
        self.as_postgres(f"{self.bin}/initdb", "-D", data, "-U", "yunying", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        with open(os.path.join(data, "pg_hba.conf"), "a") as f:
            f.write(f"host all all {NET}.0.0/16 trust\n")
        listen = ",".join(["127.0.0.1"] + [Network.gateway(n) for n in NODES])
        self.as_postgres(f"{self.bin}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "start",
                         "-o", f"-p {self.port} -c listen_addresses={listen} -k {self.dir}")
        self.sql("CREATE ROLE app LOGIN", "CREATE DATABASE archive OWNER app")

    def sql(self, *statements, db="postgres"):
        args = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", "yunying", "-d", db]
        for s in statements:
            args += ["-c", s]
        return sh(*args).stdout.strip()

    def url(self, host):
        return f"postgres://app@{host}:{self.port}/archive"

    def stop(self):
        sh("runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop",
           check=False)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, name, work, binary, pg, s3_port, prefix):
        self.name, self.binary = name, binary
        self.data = os.path.join(work, f"node-{name}")
        gw = Network.gateway(name)
        self.config = os.path.join(work, f"node-{name}.toml")
        with open(self.config, "w") as f:
            f.write(store_toml(pg.url(gw), f"http://{gw}:{s3_port}", prefix, f"""
[dicom]
unknown_callers = "demo-store"
[renditions]
node = "{name}"
lease_secs = 15
"""))
        self.log = os.path.join(work, f"node-{name}.log")
        self.proc = None

    def start(self):
        serving = os.path.join(self.data, "serving.json")
        if os.path.exists(serving):
            os.remove(serving)
        env = dict(os.environ, YUNYING_LOG="info")
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(Network.exec(self.name) + [self.binary, "serve", "--data-dir", self.data, "--config", self.config,
                                                                    "--dicom-port", "0", "--http-port", "0"],
                                         stdout=out, stderr=out, env=env)
        deadline = time.time() + 60
        while not os.path.exists(serving):
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failed(f"node {self.name} did not start (see {self.log})")
            time.sleep(0.1)
        time.sleep(0.2)
        with open(serving) as f:
            self.dicom_port = json.load(f)["dicom_port"]
        log(f"node {self.name} serving DICOM on {Network.gateway(self.name)[:-1]}2:{self.dicom_port}")

    def sender(self, directory, ack_log, assocs):
        """C-STORE every file under `directory` on `assocs` associations from
        inside the node's namespace, each success appended to `ack_log` as
        it arrives; the running process."""
        cmd = Network.exec(self.name) + [sys.executable, f"{ROOT}/tests/py/store.py", "--port", str(self.dicom_port),
                                         "--assocs", str(assocs), "--ack-log", ack_log, directory]
        with open(self.log.replace(".log", "-senders.log"), "a") as err:
            return subprocess.Popen(cmd, stderr=err)

    def store(self, files, ack_log):
        """C-STORE `files` on one association; the statuses (None: no
        answer), each success appended to `ack_log`."""
        cmd = Network.exec(self.name) + [sys.executable, f"{ROOT}/tests/py/store.py", "--port", str(self.dicom_port)]
        with open(self.log.replace(".log", "-senders.log"), "a") as err:
            out = subprocess.run(cmd + files, stdout=subprocess.PIPE, stderr=err, text=True, timeout=900).stdout
        lines = [json.loads(line) for line in out.splitlines()]
        with open(ack_log, "a") as f:
            f.writelines(line["sop_instance_uid"] + "\n" for line in lines if line.get("status") == 0)
        by_file = {line.get("file"): line.get("status") for line in lines}
        return [by_file.get(f) for f in files]

    def stop(self):
        """SIGTERM; the exit status (None if it outlived 45 s: then killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(45)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def spool_files(self):
        spool = os.path.join(self.data, "spool")
        return [os.path.join(d, f) for d, _, fs in os.walk(spool) for f in fs] if os.path.isdir(spool) else []

    def lines(self, needle):
        with open(self.log, errors="replace") as f:
            return sum(needle in line for line in f)


def store_toml(index_url, endpoint, prefix, body):
    bucket = os.environ.get("YUNYING_TEST_S3_ORIGINALS_BUCKET", "yunying-originals")
    renditions = os.environ.get("YUNYING_TEST_S3_RENDITIONS_BUCKET", "yunying-renditions")
    return (f'index_url = "{index_url}"\n{body}\n[store]\nkind = "s3"\n[store.s3]\nendpoint = "{endpoint}"\nbucket = "{bucket}"\n'
            f'prefix = "{prefix}"\nrenditions_bucket = "{renditions}"\nrenditions_prefix = "{prefix}"\n')


def gen(out, slices, seed):
    sh(sys.executable, f"{ROOT}/testdata/gen_ct_series.py", "--out", out, "--slices", str(slices), "--rows", "64", "--cols", "64",
       "--seed", str(seed))
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.endswith(".dcm"))


def acked(path):
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def uid_of(path):
    from pydicom import dcmread
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def wait(what, cond, seconds):
    deadline = time.time() + seconds
    while not cond():
        if time.time() > deadline:
            raise Failed(f"{what} within {seconds} s")
        time.sleep(0.5)
    log(f"ok: {what}")


def scenario(work, binary, pg, net):
    s3_endpoint = os.environ["YUNYING_TEST_S3_ENDPOINT"]
    control = os.path.join(work, "faults.json")
    with open(control, "w") as f:
        f.write('{"fault": "none"}')
    proxy = subprocess.Popen([sys.executable, f"{ROOT}/tests/py/s3_fault_proxy.py", "--upstream", s3_endpoint, "--control", control,
                              "--bind", "0.0.0.0"], stdout=subprocess.PIPE, text=True)
    s3_port = int(proxy.stdout.readline())
    prefix = f"partition-{uuid.uuid4().hex[:12]}"
    nodes = {n: Node(n, work, binary, pg, s3_port, prefix) for n in NODES}
    try:
        for node in nodes.values():
            node.start()
        a, b = nodes["a"], nodes["b"]
        acks = os.path.join(work, "acks.txt")
        open(acks, "w").close()

        # 1. A loses PostgreSQL and S3 mid-ingest, for longer than the lease.
        series_a = gen(os.path.join(work, "ct-a"), 600, 61)
        sender = a.sender(os.path.join(work, "ct-a"), acks, 4)
        wait("A acknowledged 100 instances", lambda: len(acked(acks)) >= 100, 120)
        net.partition("a")
        log("A partitioned from PostgreSQL and S3")
        at_cut = len(acked(acks))
        series_b = gen(os.path.join(work, "ct-b"), 100, 62)
        expect(b.store(series_b, acks) == [0] * 100, "B stored its 100 instances while A was cut off")
        time.sleep(30)  # A's rendition leases (15 s) run out; B takes the jobs
        net.heal("a")
        log("A healed")
        sender.wait(timeout=600)
        log(f"A's sender done: {len(acked(acks)) - 100} of A's instances acknowledged ({at_cut} before the cut)")
        expect(len(acked(acks)) - 100 < 600, "the cut landed mid-ingest")
        missing = [f for f in series_a if uid_of(f) not in acked(acks)]
        probe = missing.pop()
        wait("A accepts C-STOREs again", lambda: a.store([probe], acks) == [0], 180)
        expect(a.store(missing, acks) == [0] * len(missing), f"A stored the {len(missing)} it had refused")

        # 2. B loses S3 only while a series arrives.
        series_c = gen(os.path.join(work, "ct-c"), 40, 63)
        net.partition("b", s3_port)
        log("B partitioned from S3")
        statuses = b.store(series_c, acks)
        expect(0 not in statuses, "B acknowledged nothing it could not store while S3 was cut off")
        log(f"B's answers then (None: none within the sender's 30 s): {sorted(set(map(str, statuses)))}")
        net.heal("b")
        log("B healed")
        missing = [f for f in series_c if uid_of(f) not in acked(acks)]
        expect(b.store(missing, acks) == [0] * len(missing), f"B stored the {len(missing)} it had refused")

        # The invariants.
        every = acked(acks)
        expect(len(every) == 740, "740 instances acknowledged in all")
        indexed = set(pg.sql("SELECT sop_instance_uid FROM instances", db="archive").split())
        expect(every <= indexed, "every acknowledged instance is indexed")

        def queue():
            return dict(line.split("|") for line in pg.sql("SELECT state, COUNT(*) FROM rendition_jobs GROUP BY state", db="archive").split())

        wait("the rendition queue drains", lambda: not ({"pending", "running"} & set(queue())), 600)
        expect("parked" not in queue(), f"no rendition job parked ({queue()})")
        twice = pg.sql("SELECT COUNT(*) FROM (SELECT instance_pk, kind, frame FROM renditions GROUP BY instance_pk, kind, frame "
                       "HAVING COUNT(*) > 1) t", db="archive")
        expect(twice == "0", "no rendition recorded twice")
        thumbs = pg.sql("SELECT COUNT(DISTINCT instance_pk) FROM renditions WHERE kind = 'thumbnail'", db="archive")
        expect(int(thumbs) == len(indexed), f"every instance has its thumbnail ({thumbs} of {len(indexed)})")
        verify_config = os.path.join(work, "verify.toml")
        with open(verify_config, "w") as f:
            f.write(store_toml(pg.url("127.0.0.1"), s3_endpoint, prefix, ""))
        out = sh(binary, "--data-dir", os.path.join(work, "verify"), "--config", verify_config, "verify", "--quiet", check=False)
        said = out.stdout.strip() if out.returncode == 0 else out.stdout + out.stderr[-800:]
        expect(out.returncode == 0, f"yunying verify: every indexed object intact ({said})")
        lost = a.lines("lease was lost") + b.lines("lease was lost")
        log(f"late results refused because another worker had the job: {lost}")
        # A C-STORE caught by the cut waits for its PUT until TCP gives up
        # or the link heals (its sender gave up after 30 s: nothing was
        # acknowledged); then its spool file goes.
        for node in nodes.values():
            wait(f"no spool file left on node {node.name}", lambda: node.spool_files() == [], 300)
        for node in nodes.values():
            expect(node.stop() == 0, f"node {node.name} stops gracefully")
    finally:
        for node in nodes.values():
            node.stop()
        proxy.kill()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True, help="the yunying binary")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs) afterwards")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (network namespaces, iptables): scripts/partition-test.sh")
    for var in ("YUNYING_TEST_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if not os.environ.get(var):
            sys.exit(f"{var} is not set: run through scripts/partition-test.sh, which starts the S3 server")
    work = tempfile.mkdtemp(prefix="yunying-partition-")
    shutil.chown(work, "postgres")
    os.chmod(work, 0o755)
    net, pg = Network(), Postgres(work)
    status = 1
    try:
        net.create()
        pg.start()
        scenario(work, args.binary, pg, net)
        log("every check holds")
        status = 0
    except Failed as e:
        log(f"FAILED: {e}")
    finally:
        pg.stop()
        net.remove()
        if args.keep or status:
            log(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
