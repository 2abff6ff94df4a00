"""Bootstrap token from a cloud metadata service (agent.md §4.2 source 4) end to end: a small
emulator of one provider at a time (AWS IMDSv2, GCP, OpenStack) on 169.254.169.254:80 inside
the node's namespace serves a real plexcp bootstrap token; plexd finds it with
`token.metadata: true, metadata_provider: auto` and registers. Each test builds its own lab."""

import json
import os
import shutil
import textwrap

import pytest

import plexlab
from plexlab import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, WireGuard)")

IMDS = "169.254.169.254"
TOKEN_PATH = "/plexd/bootstrap-token"

# The emulator. It logs every request as one JSON line (method, path, the metadata headers,
# the status it answered) so the test can check what plexd sent. Secrets it hands out are
# logged only as "session_ok"/"session_sent" booleans.
EMULATOR = textwrap.dedent('''
    import json, secrets, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    mode, addr, token_file, log_path = sys.argv[1:5]
    token = open(token_file).read().strip()
    session = secrets.token_urlsafe(32)
    log = open(log_path, "a", buffering=1)

    class H(BaseHTTPRequestHandler):
        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            log.write(json.dumps({
                "method": self.command, "path": self.path, "status": status,
                "ttl": self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"),
                "session_sent": self.headers.get("X-aws-ec2-metadata-token") is not None,
                "session_ok": self.headers.get("X-aws-ec2-metadata-token") == session,
                "flavor": self.headers.get("Metadata-Flavor"),
                "metadata": self.headers.get("Metadata"),
                "host": self.headers.get("Host")}) + "\\n")

        def log_message(self, *a):
            pass

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if mode == "aws" and self.path == "/latest/api/token":
                if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self.reply(400)
                return self.reply(200, session.encode())
            self.reply(405)

        def do_GET(self):
            p = self.path
            if mode == "aws" and p == "''' + TOKEN_PATH + '''":
                # IMDSv2 only (HttpTokens: required): no or a wrong session is refused.
                if self.headers.get("X-aws-ec2-metadata-token") != session:
                    return self.reply(401)
                return self.reply(200, (token + "\\n").encode())
            if p.startswith("/computeMetadata/v1/"):
                if mode != "gcp":
                    # Answers, but is not GCP: no Metadata-Flavor response header.
                    return self.reply(200, b"not gcp")
                if self.headers.get("Metadata-Flavor") != "Google":
                    return self.reply(403)
                flavor = [("Metadata-Flavor", "Google")]
                if p == "/computeMetadata/v1/":
                    return self.reply(200, b"instance/\\nproject/\\n", flavor)
                if p == "/computeMetadata/v1''' + TOKEN_PATH + '''":
                    return self.reply(200, token.encode(), flavor)
                return self.reply(404, b"", flavor)
            if mode == "openstack" and p == "/openstack/latest/meta_data.json":
                doc = {"uuid": "d8e02d56-2648-49a3-bf97-6be8f1204f38", "name": "node",
                       "meta": {"''' + TOKEN_PATH[1:] + '''": token, "role": "mesh"}}
                return self.reply(200, json.dumps(doc).encode(),
                                  [("Content-Type", "application/json")])
            self.reply(404)

    srv = ThreadingHTTPServer((addr, 80), H)
    log.write(json.dumps({"ready": True}) + "\\n")
    srv.serve_forever()
''')


class Metadata:
    """The emulator in a node's namespace, plus the hosts entry for metadata.google.internal
    (`ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts)."""

    def __init__(self, lab, node):
        self.lab = lab
        self.node = node
        self.dir = os.path.join(node.dir, "metadata")
        self.netns_etc = f"/etc/netns/{node.ns}"
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)
        self.script = os.path.join(self.dir, "emulator.py")
        with open(self.script, "w") as f:
            f.write(EMULATOR)
        self.log_path = os.path.join(self.dir, "requests.jsonl")
        self.token_file = os.path.join(self.dir, "token")
        plexlab.run(["ip", "-n", node.ns, "addr", "add", f"{IMDS}/32", "dev", "lo"])
        os.makedirs(self.netns_etc, exist_ok=True)
        with open(os.path.join(self.netns_etc, "hosts"), "w") as f:
            f.write(f"127.0.0.1 localhost\n{IMDS} metadata.google.internal\n")

    def start(self, mode, token):
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        open(self.log_path, "w").close()
        self.proc = self.lab.spawn(["ip", "netns", "exec", self.node.ns, "/usr/bin/python3",
                                    self.script, mode, IMDS, self.token_file, self.log_path])
        wait_until(lambda: any(r.get("ready") for r in self.requests(all_lines=True)), 10,
                   what="metadata emulator ready")

    def stop(self):
        if self.proc:
            self.lab.stop_process(self.proc)
            self.proc = None

    def requests(self, all_lines=False):
        try:
            with open(self.log_path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return lines if all_lines else [r for r in lines if "method" in r]

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.netns_etc, ignore_errors=True)


@pytest.fixture
def lab(monkeypatch):
    # The environment source comes before metadata: make sure it is empty.
    monkeypatch.delenv("PLEXD_BOOTSTRAP_TOKEN", raising=False)
    lab = plexlab.Lab("md")
    lab.metadata = []
    try:
        lab.start_plexcp()
        yield lab
    finally:
        failed = [n for n in lab.nodes.values() if "runtime error" in n.log_text()
                  or "AddressSanitizer" in n.log_text()]
        lab.dump_logs()  # shown by pytest only when the test fails
        for m in lab.metadata:
            m.cleanup()
        lab.cleanup()
        assert not failed, f"sanitizer reports in {[n.name for n in failed]}"


def metadata_node(lab, name, provider="auto"):
    node = lab.add_node(name)
    node.token_options = {"metadata": "true", "metadata_provider": provider,
                          "metadata_path": TOKEN_PATH, "metadata_timeout": "1s"}
    md = Metadata(lab, node)
    lab.metadata.append(md)
    return node, md


def join(node):
    """`plexd join` inside the node's namespace (where the metadata service is)."""
    return node.exec(plexlab.binary("plexd"), "--config", node.config_path, "join",
                     check=False, timeout=60)


def assert_registered(lab, node, token):
    lab.wait_registered([node], timeout=30)
    ident = node.identity()
    st = wait_until(lambda: node.status(), 15, what="plexd status")
    assert ident["node_id"] in json.dumps(st)
    assert not os.path.exists(node.token_file)
    log = node.log_text()
    assert "token_source=metadata" in log
    assert token not in log, "the bootstrap token was logged"


@pytest.mark.parametrize("mode", ["aws", "gcp", "openstack"])
def test_up_registers_with_metadata_token(lab, mode):
    node, md = metadata_node(lab, "n1")
    token = lab.token()
    md.start(mode, token)
    node.start()  # no token file, no environment variable
    assert_registered(lab, node, token)
    assert f"provider={mode}" in node.log_text()

    reqs = md.requests()
    probes = [(r["method"], r["path"]) for r in reqs]
    # auto probes in order; the first provider that answers is used exclusively.
    assert probes[0] == ("PUT", "/latest/api/token")
    if mode == "aws":
        assert reqs[0]["ttl"] == "21600" and reqs[0]["status"] == 200
        gets = [r for r in reqs if r["path"] == TOKEN_PATH]
        assert len(gets) == 1 and gets[0]["session_ok"] and gets[0]["status"] == 200
        assert len(reqs) == 2
        # The emulator is IMDSv2-only: without the session header the same GET is refused,
        # so the registration above proves plexd used the session.
        r = node.exec("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      f"http://{IMDS}{TOKEN_PATH}", check=False)
        assert r.stdout == "401"
        r = node.exec("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                      "X-aws-ec2-metadata-token: forged", f"http://{IMDS}{TOKEN_PATH}",
                      check=False)
        assert r.stdout == "401"
    elif mode == "gcp":
        assert probes[1] == ("GET", "/computeMetadata/v1/")
        assert reqs[1]["flavor"] == "Google"
        assert reqs[1]["host"] == "metadata.google.internal"
        assert probes[2] == ("GET", "/computeMetadata/v1" + TOKEN_PATH)
        assert reqs[2]["flavor"] == "Google" and reqs[2]["status"] == 200
        assert len(reqs) == 3
    else:
        # The GCP probe got a 200 without Metadata-Flavor: not GCP. Azure's probe 404.
        assert probes[1:] == [("GET", "/computeMetadata/v1/"),
                              ("GET", "/metadata/instance?api-version=2021-02-01"),
                              ("GET", "/openstack/latest/meta_data.json")]
        assert reqs[2]["metadata"] == "true"


def test_up_waits_and_rechecks_metadata(lab):
    """No metadata service at first: plexd waits (warning lists the sources) and picks the
    token up on its 10 s re-check once the service appears."""
    node, md = metadata_node(lab, "n1")
    node.start()
    wait_until(lambda: "waiting for bootstrap token" in node.log_text(), 15,
               what="waiting warning")
    line = [l for l in node.log_text().splitlines() if "waiting for bootstrap token" in l][0]
    assert f"metadata {TOKEN_PATH} provider=auto" in line
    assert "not supported" not in line
    assert node.running()
    token = lab.token()
    md.start("openstack", token)
    assert_registered(lab, node, token)


def test_join_metadata(lab):
    # Metadata disabled (the default): no token anywhere → exit 1, sources listed.
    plain = lab.add_node("plain")
    plain.write_config()
    r = join(plain)
    assert r.returncode == 1, r.stderr
    assert "no bootstrap token found" in r.stderr
    assert f"file {plain.token_file}" in r.stderr and "PLEXD_BOOTSTRAP_TOKEN" in r.stderr
    assert "metadata" not in r.stderr
    assert not os.path.exists(os.path.join(plain.data_dir, "identity.json"))

    # Enabled but nothing answers: join gives up after one full attempt, metadata listed.
    node, md = metadata_node(lab, "n1")
    node.write_config()
    r = join(node)
    assert r.returncode == 1, r.stderr
    assert f"metadata {TOKEN_PATH} provider=auto" in r.stderr

    # Enabled and served: join registers with it.
    token = lab.token()
    md.start("openstack", token)
    r = join(node)
    assert r.returncode == 0, r.stderr
    ident = node.identity()
    assert f"node_id: {ident['node_id']}" in r.stdout
    assert token not in r.stdout + r.stderr
    assert ident["node_id"] in lab.cp("node", "list").stdout
