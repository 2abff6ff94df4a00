"""plexlab: network-namespace test lab shared by the end-to-end tests and `make demo`.

A lab owns a unique name prefix, a temp directory, the namespaces it creates and the PIDs of the
processes it starts; cleanup() removes exactly those and nothing else. Topology: one "hub"
namespace holding a bridge (the underlay "internet") where plexcp runs, and one namespace per
node attached to the bridge by a veth pair. Traffic never leaves these namespaces.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

UNDERLAY = "172.31.250"  # /24 inside the lab's own namespaces only


def build_dir():
    return os.environ.get("PLEXD_BUILD") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build-test")


def binary(name):
    sub = {"plexd": "src/plexd/plexd", "plexcp": "src/plexcp/plexcp"}[name]
    return os.path.join(build_dir(), sub)


def run(cmd, check=True, timeout=30, **kw):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, **kw)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the condition may raise while things start up
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Node:
    def __init__(self, lab, name, index):
        self.lab = lab
        self.name = name
        self.index = index
        self.ns = f"{lab.prefix}-{name}"
        self.addr = f"{UNDERLAY}.{10 + index}"
        self.dir = os.path.join(lab.tmp, name)
        self.ifname = f"{lab.prefix[-6:]}{name[:4]}"[:15]
        self.proc = None
        self.log_path = os.path.join(self.dir, "plexd.log")
        self.config_path = os.path.join(self.dir, "config.yaml")
        self.control_socket = os.path.join(self.dir, "control.sock")
        self.api_socket = os.path.join(self.dir, "api.sock")
        self.data_dir = os.path.join(self.dir, "data")
        self.token_file = os.path.join(self.dir, "bootstrap-token")
        self.extra_config = ""
        # Further keys of the `token:` block (e.g. {"metadata": "true"}), rendered below
        # `file:` so tests need not repeat the block in extra_config (duplicate keys).
        self.token_options = {}
        # Duration string for reconcile.interval (tests that must not be disturbed
        # by periodic reconciles raise it; 5s is plexd's minimum).
        self.reconcile_interval = "5s"

    # --- configuration -------------------------------------------------------------------
    def write_config(self, extra=""):
        os.makedirs(self.dir, exist_ok=True)
        token_options = "".join(f"  {k}: {v}\n" for k, v in self.token_options.items())
        cfg = f"""api: http://{self.lab.hub_addr}:{self.lab.cp_port}
log_level: debug
data_dir: {self.data_dir}
hostname: {self.name}
api_client:
  allow_insecure_http: true
token:
  file: {self.token_file}
{token_options}mesh:
  interface: {self.ifname}
  listen_port: 51820
  backend: userspace
  # Not 5 s: a keepalive period equal to WireGuard's rekey timeout keeps two peers that were
  # configured in the same millisecond initiating in lock-step, so every handshake collides
  # (wireguard-go's retransmission jitter never gets a chance).
  persistent_keepalive: 7s
reconcile:
  interval: {self.reconcile_interval}
heartbeat:
  interval: 5s
nat_traversal:
  enabled: {str(self.lab.stun_enabled).lower()}
  stun_servers: [{self.lab.hub_addr}:3478]
  refresh_interval: 10s
  timeout: 2s
actions:
  socket: {self.control_socket}
node_api:
  socket: {self.api_socket}
access:
  ssh:
    enabled: false
logs:
  enabled: false
audit:
  enabled: false
observe:
  enabled: false
integrity:
  enabled: false
{self.extra_config}{extra}"""
        with open(self.config_path, "w") as f:
            f.write(cfg)
        os.chmod(self.config_path, 0o600)

    def write_token(self, token):
        os.makedirs(self.dir, exist_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")

    # --- processes -----------------------------------------------------------------------
    def start(self, token=None, extra_config=""):
        if token:
            self.write_token(token)
        self.write_config(extra_config)
        self.log = open(self.log_path, "a")
        self.proc = self.lab.spawn(["ip", "netns", "exec", self.ns, binary("plexd"), "up",
                                    "--config", self.config_path], stdout=self.log,
                                   stderr=subprocess.STDOUT)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc:
            return None
        rc = self.lab.stop_process(self.proc, sig, timeout)
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args, check=True, timeout=30):
        return run([binary("plexd"), "--config", self.config_path, *args], check=check,
                   timeout=timeout)

    def cli_json(self, *args):
        return json.loads(self.cli("--json", *args).stdout)

    def exec(self, *cmd, check=True, timeout=30):
        return run(["ip", "netns", "exec", self.ns, *cmd], check=check, timeout=timeout)

    def status(self):
        return self.cli_json("status")

    def identity(self):
        with open(os.path.join(self.data_dir, "identity.json")) as f:
            return json.load(f)

    @property
    def mesh_ip(self):
        return self.identity()["mesh_ip"]

    @property
    def node_id(self):
        return self.identity()["node_id"]

    def wg_dump(self):
        """Peers as wireguard-tools sees them: {public_key: {endpoint, allowed_ips, ...}}."""
        out = self.exec("wg", "show", self.ifname, "dump").stdout.strip().splitlines()
        peers = {}
        for line in out[1:]:
            f = line.split("\t")
            peers[f[0]] = {"psk": f[1], "endpoint": f[2], "allowed_ips": f[3],
                           "latest_handshake": int(f[4]), "rx": int(f[5]), "tx": int(f[6]),
                           "keepalive": f[7]}
        return peers

    def ping(self, ip, count=1, timeout=2, check=False):
        r = self.exec("ping", "-n", "-q", "-c", str(count), "-W", str(timeout), ip,
                      check=False, timeout=timeout * count + 10)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: ping {ip} failed:\n{r.stdout}{r.stderr}")
        return r.returncode == 0

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""


class Lab:
    def __init__(self, tag="t"):
        self.prefix = f"px{tag}{secrets.token_hex(2)}"
        self.tmp = tempfile.mkdtemp(prefix=f"{self.prefix}-")
        os.chmod(self.tmp, 0o755)
        self.namespaces = []
        self.procs = []
        self.nodes = {}
        self.hub = f"{self.prefix}-hub"
        self.hub_addr = f"{UNDERLAY}.1"
        self.cp_port = 18000 + secrets.randbelow(2000)
        self.cp_proc = None
        self.cp_dir = os.path.join(self.tmp, "cp")
        self.cp_db = os.path.join(self.cp_dir, "plexcp.db")
        self.cp_admin = os.path.join(self.cp_dir, "admin.sock")
        self.cp_log_path = os.path.join(self.cp_dir, "plexcp.log")
        self.stun_enabled = False
        self.stun_proc = None
        self._create_hub()

    # --- namespaces ----------------------------------------------------------------------
    def _netns_add(self, ns):
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _create_hub(self):
        self._netns_add(self.hub)
        run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.hub, "addr", "add", f"{self.hub_addr}/24", "dev", "br0"])
        run(["ip", "-n", self.hub, "link", "set", "br0", "up"])

    def add_node(self, name):
        node = Node(self, name, len(self.nodes))
        self._netns_add(node.ns)
        host_end = f"{self.prefix[-5:]}{node.index}h"
        run(["ip", "link", "add", host_end, "netns", self.hub, "type", "veth", "peer", "name",
             "eth0", "netns", node.ns])
        run(["ip", "-n", self.hub, "link", "set", host_end, "master", "br0", "up"])
        run(["ip", "-n", node.ns, "addr", "add", f"{node.addr}/24", "dev", "eth0"])
        run(["ip", "-n", node.ns, "link", "set", "eth0", "up"])
        os.makedirs(node.dir, exist_ok=True)
        self.nodes[name] = node
        return node

    # --- processes -----------------------------------------------------------------------
    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def stop_process(self, p, sig=signal.SIGTERM, timeout=20):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    # --- control plane -------------------------------------------------------------------
    def start_plexcp(self, *extra):
        os.makedirs(self.cp_dir, exist_ok=True)
        self.cp_log = open(self.cp_log_path, "a")
        self.cp_proc = self.spawn(["ip", "netns", "exec", self.hub, binary("plexcp"), "serve",
                                   "--insecure-http", "--listen",
                                   f"{self.hub_addr}:{self.cp_port}", "--db", self.cp_db,
                                   "--admin-socket", self.cp_admin, *extra],
                                  stdout=self.cp_log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(self.cp_admin) and self.cp("node", "list",
                                                                      check=False).returncode == 0,
                   10, what="plexcp admin socket")
        return self.cp_proc

    def start_stun(self):
        """A real STUN server (coturn, STUN-only) on the hub: nodes discover their endpoint."""
        os.makedirs(self.cp_dir, exist_ok=True)
        log = open(os.path.join(self.cp_dir, "turnserver.log"), "a")
        self.stun_proc = self.spawn(["ip", "netns", "exec", self.hub, "turnserver", "-n", "-S",
                                     "--no-cli", "--no-tls", "--no-dtls", "-L", self.hub_addr,
                                     "-p", "3478", "--log-file", "stdout"],
                                    stdout=log, stderr=subprocess.STDOUT)
        self.stun_enabled = True

        def listening():
            out = run(["ip", "netns", "exec", self.hub, "ss", "-ulnH", "sport", "= :3478"],
                      check=False).stdout
            return self.hub_addr in out
        wait_until(listening, 10, what="STUN server listening")
        return self.stun_proc

    def stop_plexcp(self, sig=signal.SIGTERM):
        if self.cp_proc:
            rc = self.stop_process(self.cp_proc, sig)
            self.cp_proc = None
            return rc
        return None

    def cp(self, *args, check=True, input=None, timeout=30):
        return subprocess.run([binary("plexcp"), "--admin-socket", self.cp_admin, *args],
                              check=check, timeout=timeout, capture_output=True, text=True,
                              input=input)

    def cp_json(self, *args, input=None):
        return json.loads(self.cp("--json", *args, input=input).stdout)

    def token(self):
        return self.cp_json("token", "create")["tokens"][0]["token"]

    def allow_all(self):
        path = os.path.join(self.cp_dir, "allow-all.json")
        with open(path, "w") as f:
            json.dump([{"id": "default-allow",
                        "rules": [{"src": "*", "dst": "*", "action": "allow"}]}], f)
        self.cp("policy", "set", "-f", path)

    def cp_log_text(self):
        try:
            with open(self.cp_log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # --- convergence helpers ---------------------------------------------------------------
    def wait_registered(self, nodes, timeout=20):
        for n in nodes:
            wait_until(lambda n=n: os.path.exists(os.path.join(n.data_dir, "identity.json")),
                       timeout, what=f"{n.name} registered")

    def wait_full_mesh(self, nodes, timeout=20):
        """Every node has every other node configured as a WireGuard peer."""
        want = len(nodes) - 1

        def ok():
            return all(len(n.wg_dump()) == want for n in nodes)
        wait_until(ok, timeout, interval=0.1, what="full mesh configured")

    def ping_all(self, nodes, count=1):
        failures = []
        for a in nodes:
            for b in nodes:
                if a is not b and not a.ping(b.mesh_ip, count=count):
                    failures.append(f"{a.name}->{b.name} ({b.mesh_ip})")
        return failures

    def dump_logs(self, lines=60):
        for n in self.nodes.values():
            print(f"----- {n.name} ({n.ns}) log tail -----")
            print("\n".join(n.log_text().splitlines()[-lines:]))
            for cmd in (["wg", "show", n.ifname, "dump"], ["nft", "list", "table", "inet", "plexd"],
                        ["ip", "-br", "addr"], ["ip", "route"]):
                r = run(["ip", "netns", "exec", n.ns, *cmd], check=False)
                print(f"--- {n.name}: {' '.join(cmd)} ---\n{r.stdout}{r.stderr}")
        print("----- plexcp log tail -----")
        print("\n".join(self.cp_log_text().splitlines()[-lines:]))

    # --- teardown ------------------------------------------------------------------------
    def cleanup(self):
        for n in self.nodes.values():
            if n.proc:
                n.stop(timeout=15)
        if self.cp_proc:
            self.stop_plexcp()
        for p in list(self.procs):
            self.stop_process(p, signal.SIGKILL, 5)
        # Children our daemons started (wireguard-go) live in our namespaces: kill those PIDs.
        for ns in self.namespaces:
            r = run(["ip", "netns", "pids", ns], check=False)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for n in self.nodes.values():
            sock = f"/var/run/wireguard/{n.ifname}.sock"
            if os.path.exists(sock):
                os.unlink(sock)
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces = []
        if not os.environ.get("PLEXLAB_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
