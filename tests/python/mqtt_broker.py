"""A real MQTT broker for tests: Debian's /usr/sbin/mosquitto on a free
127.0.0.1 port with a generated config, and mosquitto_sub to read what
arrives."""
import getpass
import socket
import subprocess
import threading
import time

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1:port. With persistence, subscriptions and
    queued QoS 1 messages survive stop()/start(), as on a real deployment
    whose broker restarts."""

    def __init__(self, workdir, persistence=False, tls=None, users=None):
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        # user: run as root, mosquitto would switch to the mosquitto user,
        # which cannot write the test's persistence directory.
        lines = [f"listener {self.port} 127.0.0.1",
                 f"allow_anonymous {'false' if users else 'true'}",
                 f"user {getpass.getuser()}"]
        if users:
            passwords = workdir / "passwords"
            passwords.touch()
            for name, password in users.items():
                subprocess.run(["/usr/bin/mosquitto_passwd", "-b", str(passwords), name,
                                password], check=True)
            lines.append(f"password_file {passwords}")
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/"]
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = open(workdir / "mosquitto.log", "ab")
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "mosquitto exited: see mosquitto.log"
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Subscriber:
    """mosquitto_sub -C count -W timeout, at QoS 1; with client_id, a
    persistent session that keeps its subscription across broker restarts.
    Collects the payloads on a thread; ready once the broker acknowledged
    the subscription."""

    def __init__(self, broker, topic, count, timeout_s=60, client_id=None, cafile=None,
                 user=None):
        # stdbuf: mosquitto_sub's stdio would hold the lines in a pipe.
        args = ["stdbuf", "-oL", MOSQUITTO_SUB, "-d", "-h", "127.0.0.1", "-p", str(broker.port),
                "-t", topic, "-q", "1", "-C", str(count), "-W", str(timeout_s)]
        if client_id:
            args += ["-c", "-i", client_id]
        if cafile:
            args += ["--cafile", str(cafile)]
        if user:
            args += ["-u", user[0], "-P", user[1]]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.messages = []
        self.subscribed = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.subscribed.wait(10), "mosquitto_sub did not subscribe"

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("Client "):
                if "received SUBACK" in line:
                    self.subscribed.set()
            elif line.startswith("{"):
                self.messages.append(line)

    def wait(self, timeout_s=90):
        self.proc.wait(timeout_s)
        self.thread.join(5)
        return self.messages

    def kill(self):
        """Stops mosquitto_sub; what it printed before is in messages."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(5)

    stop = kill


class Processes:
    """The brokers and subscribers of one test, all stopped at its end
    (close()), whatever the test's outcome."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def broker(self, start=True, **kwargs):
        workdir = self.workdir / f"broker{len(self.started)}"
        workdir.mkdir()
        broker = Broker(workdir, **kwargs)
        self.started.append(broker)
        if start:
            broker.start()
        return broker

    def subscriber(self, *args, **kwargs):
        sub = Subscriber(*args, **kwargs)
        self.started.append(sub)
        return sub

    def close(self):
        for p in reversed(self.started):
            p.stop()


class TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl)."""

    def __init__(self, workdir):
        def run(*args):
            subprocess.run(["openssl", *args], check=True, cwd=workdir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=gst-hyrsm test CA")
        run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
        (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
        self.ca = workdir / "ca.crt"
        self.cert = workdir / "server.crt"
        self.key = workdir / "server.key"
