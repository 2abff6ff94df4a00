"""plexd's HTTP client registers against `plexcp serve --tls-cert --tls-key` (control-plane-api.md
§2.2): it trusts the self-hosted CP through api_client.ca_file and refuses a server whose
certificate another CA signed. Loopback only; every file lives in a temp dir."""

import json
import os
import socket
import subprocess
import time

import pytest


def _openssl_cert(directory, name):
    cert, key = os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
                    "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tls_cp(tmp_path, plexcp_bin):
    """A TLS plexcp on loopback; yields (port, cert, other_ca, admin socket)."""
    try:
        subprocess.run(["openssl", "version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("openssl CLI not installed")
    cert, key = _openssl_cert(str(tmp_path), "cp")
    other, _ = _openssl_cert(str(tmp_path), "other")
    port = _free_port()
    admin = str(tmp_path / "cp" / "admin.sock")
    log = open(tmp_path / "plexcp.log", "w")
    proc = subprocess.Popen([str(plexcp_bin), "serve", "--listen", f"127.0.0.1:{port}", "--db",
                             str(tmp_path / "cp" / "plexcp.db"), "--tls-cert", cert, "--tls-key",
                             key, "--admin-socket", admin], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(admin):
            assert proc.poll() is None, (tmp_path / "plexcp.log").read_text()
            assert time.monotonic() < deadline, "plexcp did not start"
            time.sleep(0.05)
        yield port, cert, other, admin
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        text = (tmp_path / "plexcp.log").read_text()
        assert "AddressSanitizer" not in text and "runtime error:" not in text, text


def _join(plexd_bin, plexcp_bin, tmp_path, port, ca_file, admin, name, wait_for=None):
    tok = json.loads(subprocess.run([str(plexcp_bin), "--admin-socket", admin, "--json", "token",
                                     "create"], check=True, capture_output=True, text=True,
                                    timeout=30).stdout)["tokens"][0]["token"]
    d = tmp_path / name
    d.mkdir()
    token_file = d / "token"
    token_file.write_text(tok + "\n")
    token_file.chmod(0o600)
    cfg = d / "config.yaml"
    # `plexd join` needs only api, data_dir and the token; mesh and sockets are not used.
    cfg.write_text(f"""api: https://127.0.0.1:{port}
data_dir: {d / "data"}
hostname: {name}
api_client:
  ca_file: {ca_file}
token:
  file: {token_file}
""")
    cfg.chmod(0o600)
    argv = [str(plexd_bin), "join", "--config", str(cfg)]
    if wait_for is None:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)
    # plexd retries a failed registration with backoff; stop it once the expected failure
    # has been logged.
    err_path = d / "stderr"
    with open(err_path, "w") as err:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 20
        while wait_for not in err_path.read_text() and p.poll() is None:
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.1)
        if p.poll() is None:
            p.terminate()
        out, _ = p.communicate(timeout=20)
    return subprocess.CompletedProcess(argv, p.returncode, out, err_path.read_text())


def _node_ids(plexcp_bin, admin):
    out = json.loads(subprocess.run([str(plexcp_bin), "--admin-socket", admin, "--json", "node",
                                     "list"], check=True, capture_output=True, text=True,
                                    timeout=30).stdout)
    return [n["id"] for n in (out["nodes"] if isinstance(out, dict) else out)]


def test_join_over_tls(tls_cp, plexd_bin, plexcp_bin, tmp_path):
    port, cert, _, admin = tls_cp
    r = _join(plexd_bin, plexcp_bin, tmp_path, port, cert, admin, "tls-a")
    assert r.returncode == 0, r.stdout + r.stderr
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert fields["node_id"].startswith("n_")
    assert fields["mesh_ip"].startswith("10.100.")
    assert _node_ids(plexcp_bin, admin) == [fields["node_id"]]


def test_join_wrong_ca_fails(tls_cp, plexd_bin, plexcp_bin, tmp_path):
    port, _, other, admin = tls_cp
    r = _join(plexd_bin, plexcp_bin, tmp_path, port, other, admin, "tls-b",
              wait_for="SSL certificate problem")
    assert "registration failed" in r.stderr
    assert r.returncode != 0, r.stdout
    assert "node_id" not in r.stdout
    # Nothing reached the CP: the bootstrap token is still unused and no node exists.
    assert (tmp_path / "tls-b" / "token").exists()
    assert _node_ids(plexcp_bin, admin) == []
