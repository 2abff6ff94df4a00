"""End-to-end tests of the daemon skeleton: `plexd up` with the control socket, `plexd status`,
SIGHUP reload (valid, restart-required, invalid), the single-instance lock, SIGTERM clean stop
without sanitizer reports, `plexd config check` and `--version` (agent.md §1.3, §1.6, §3, §4.1,
§4.6). Everything lives in a temp directory; only the processes started here are signalled."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def write_config(path, text):
    path.write_text(text)
    os.chmod(path, 0o600)


def base_config(tmp, log_level="info", extra=""):
    return (f"api: http://127.0.0.1:1\n"
            f"api_client:\n  allow_insecure_http: true\n"
            f"log_level: {log_level}\n"
            f"data_dir: {tmp}/data\n"
            f"actions:\n  socket: {tmp}/plexd.sock\n"
            f"node_api:\n  socket: {tmp}/run/api.sock\n"
            f"{extra}")


def run_cli(plexd_bin, *args, env=None, timeout=20):
    e = dict(os.environ)
    e.pop("PLEXD_CONFIG", None)
    if env:
        e.update(env)
    return subprocess.run([str(plexd_bin), *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    def __init__(self, plexd_bin, tmp, config):
        self.log_path = tmp / "plexd.log"
        self.log = open(self.log_path, "w")
        env = dict(os.environ)
        env.pop("PLEXD_CONFIG", None)
        env.pop("NOTIFY_SOCKET", None)
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        self.proc = subprocess.Popen([str(plexd_bin), "up", "--config", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=env)

    def text(self):
        return self.log_path.read_text()

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        wait_for(lambda: rx.search(self.text()) is not None, timeout, f"log line /{pattern}/")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


@pytest.fixture
def env_dir(tmp_path):
    (tmp_path / "run").mkdir()
    return tmp_path


@pytest.fixture
def daemon(plexd_bin, env_dir):
    cfg = env_dir / "config.yaml"
    write_config(cfg, base_config(env_dir))
    # The CLI uses its own copy, so the daemon's file can be broken on purpose.
    client_cfg = env_dir / "client.yaml"
    write_config(client_cfg, base_config(env_dir))
    d = Daemon(plexd_bin, env_dir, cfg)
    d.cfg = cfg
    d.client_cfg = client_cfg
    d.sock = env_dir / "plexd.sock"
    try:
        wait_for(lambda: d.sock.exists() or d.proc.poll() is not None, 15, "control socket")
        assert d.proc.poll() is None, d.text()
        yield d
    finally:
        d.kill()


def assert_no_sanitizer_report(text):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, text


def test_up_status_reload_stop(plexd_bin, env_dir, daemon):
    # Socket created with the §2.1 mode; runtime dir and data_dir prepared.
    assert oct(daemon.sock.stat().st_mode & 0o7777) == "0o666"
    assert (env_dir / "run").is_dir()
    data = env_dir / "data"
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    assert oct((data / "plexd.lock").stat().st_mode & 0o777) == "0o600"
    daemon.wait_log(r'msg="plexd running"')
    daemon.wait_log(r'msg="subsystem started" subsystem=control')

    # Text status: the §3.3 layout with what exists now.
    r = run_cli(plexd_bin, "status", "--config", str(daemon.client_cfg))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    labels = [ln.split(":")[0] for ln in lines]
    assert labels == ["Node", "Uptime", "Control", "NAT", "Mesh", "Policies", "State",
                      "Integrity"]
    assert re.fullmatch(r"Node:        not registered mode=node version=\S+", lines[0])
    assert re.fullmatch(r"Uptime:      (\d+h)?(\d+m)?\d+(\.\d+)?s", lines[1])
    assert lines[2] == "Control:     unknown"

    # JSON status.
    r = run_cli(plexd_bin, "--json", "status", "--config", str(daemon.client_cfg))
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["pid"] == daemon.proc.pid
    assert st["mode"] == "node"
    assert st["state"] == "running"
    assert st["config_path"] == str(daemon.cfg)
    assert st["data_dir"] == str(data)
    assert {"name": "control", "state": "running"} in st["subsystems"]
    v = run_cli(plexd_bin, "--version").stdout.splitlines()[0]
    assert v == f"plexd version {st['version']}"

    # Single instance per data_dir.
    r = run_cli(plexd_bin, "up", "--config", str(daemon.cfg))
    assert r.returncode == 1
    assert "plexd up: another plexd instance is running" in r.stderr

    # SIGHUP with a changed hot key: applied and logged.
    write_config(daemon.cfg, base_config(env_dir, log_level="debug"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log(r'msg="configuration reloaded" log_level=debug')

    # SIGHUP with a key that needs a restart: reported, not applied.
    write_config(daemon.cfg, base_config(env_dir, log_level="debug",
                                         extra="mesh:\n  listen_port: 51999\n"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log(r'level=warn .*msg="restart required to apply changed key, not applied" '
                    r'key=mesh.listen_port')

    # SIGHUP with an invalid file: rejected whole, errors logged, daemon keeps running on the
    # old configuration.
    reloads_before = daemon.text().count('msg="configuration reloaded"')
    write_config(daemon.cfg, base_config(env_dir, log_level="loud",
                                         extra="mesh:\n  interfce: wg0\n"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log(r'level=error .*msg="configuration reload rejected, keeping the running '
                    r'configuration" problem=".*log_level')
    daemon.wait_log(r'level=error .*problem=".*mesh.interfce: unknown key')
    time.sleep(0.2)
    assert daemon.proc.poll() is None
    assert daemon.text().count('msg="configuration reloaded"') == reloads_before

    # The CLI with the now-broken file falls back to env for the socket path (§3.2).
    r = run_cli(plexd_bin, "--json", "status", "--config", str(daemon.cfg),
                env={"PLEXD_ACTIONS_SOCKET": str(daemon.sock)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "running"

    # SIGTERM: clean stop, exit 0, socket removed, no sanitizer report.
    rc = daemon.stop(signal.SIGTERM)
    text = daemon.text()
    assert rc == 0, text
    assert 'msg="stopped"' in text
    assert not daemon.sock.exists()
    assert_no_sanitizer_report(text)

    # Daemon gone: status exits 3.
    r = run_cli(plexd_bin, "status", "--config", str(daemon.client_cfg))
    assert r.returncode == 3
    assert r.stderr.startswith("plexd status: daemon not reachable at ")


def test_sigint_stops_cleanly(plexd_bin, daemon):
    daemon.wait_log(r'msg="plexd running"')
    rc = daemon.stop(signal.SIGINT)
    text = daemon.text()
    assert rc == 0, text
    assert 'msg="signal received" signal=SIGINT' in text
    assert_no_sanitizer_report(text)


def test_up_config_error_exit_2(plexd_bin, env_dir):
    cfg = env_dir / "bad.yaml"
    write_config(cfg, base_config(env_dir, log_level="verbose"))
    r = run_cli(plexd_bin, "up", "--config", str(cfg))
    assert r.returncode == 2
    assert r.stderr.startswith("plexd: config: log_level:")
    # No side effects with an invalid configuration (§1.3 rule 1).
    assert not (env_dir / "data").exists()
    assert not (env_dir / "plexd.sock").exists()


def test_config_check_mistakes(plexd_bin, env_dir):
    cfg = env_dir / "mistakes.yaml"
    write_config(cfg, "api: ftp://cp.example.com\n"
                      "log_level: loud\n"
                      "mode: hub\n"
                      "mesh:\n"
                      "  interfce: wg0\n"
                      "  listen_port: 70000\n")
    r = run_cli(plexd_bin, "config", "check", "--config", str(cfg))
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 5, r.stderr
    for line in lines:
        assert line.startswith("plexd: config: "), line
        assert f"(file:{cfg}:" in line, line
    for key in ("api:", "log_level:", "mode:", "mesh.interfce:", "mesh.listen_port:"):
        assert any(line.startswith(f"plexd: config: {key}") for line in lines), key

    good = env_dir / "good.yaml"
    write_config(good, base_config(env_dir))
    r = run_cli(plexd_bin, "config", "check", "--config", str(good))
    assert r.returncode == 0, r.stderr
    assert 'api = "http://127.0.0.1:1"' in r.stdout
    r = run_cli(plexd_bin, "config", "check", "--json", "--config", str(good))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["actions"]["socket"] == str(env_dir / "plexd.sock")


def test_version(plexd_bin):
    r = run_cli(plexd_bin, "--version")
    assert r.returncode == 0
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"plexd version \d+\.\d+\.\d+\S*", lines[0])
    assert re.fullmatch(r"commit: [0-9a-f]{7,40}|commit: unknown", lines[1])
    assert re.fullmatch(r"built: \d{4}-\d{2}-\d{2}", lines[2])


def test_usage_errors(plexd_bin):
    r = run_cli(plexd_bin, "frobnicate")
    assert r.returncode == 2
    assert r.stderr.startswith("plexd: unknown command 'frobnicate'")
    r = run_cli(plexd_bin)
    assert r.returncode == 2
    r = run_cli(plexd_bin, "--help")
    assert r.returncode == 0
    assert "config check" in r.stdout
