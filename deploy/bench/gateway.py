#!/usr/bin/env python3
"""Measures the gateway against real references, on one machine, in one run.

1. Federated view over 4 nodes vs. the slowest direct node call for the same child
   (p50/p99, throughput). Target: view p99 <= 1.3 x that node's p99.
2. One node call through the gateway vs. the same call through nginx (Debian's package)
   proxying to the node over mutual TLS: the reference cost of one TLS hop.
   Target: gateway throughput >= 0.5 x nginx's.
3. Memory: gateway and node resident set size under load.
4. CPU time per request of every process involved (gateway, nodes, nginx, the load
   generator itself), read from /proc over each measured window: where a view's time goes.

Every figure comes from the same load generator (`federation bench load`, which can
present a client certificate; wrk cannot). Traffic goes only to 127.0.0.1. Standard
library only. Usage (from the repository root):

    python3 deploy/bench/gateway.py                 # about 8 minutes on 2 cores
    python3 deploy/bench/gateway.py --rounds 1 --duration 5   # a quick look

It prints the machine, the commit and every figure, ratios last, and writes the same
as Markdown to --out (default: target/bench/gateway.md).
"""
import argparse
import json
import os
import platform
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONTEXT = "purpose=safeguarding&legal_basis=public_task"
# A view that answered 200 but lost a node is not a good answer.
VIEW_REJECT = ['"status":"timeout"', '"status":"unavailable"', '"status":"error"']


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT)
        if sh(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT):
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "commit": commit,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def ensure_nginx():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found:
        return found
    log("nginx is missing: installing Debian's package")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
                   check=True, env=env)
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    # The package may start a system nginx on port 80; it does not disturb this run.
    return found


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


class Federation:
    """`federation up` in a temporary folder, with rate limits lifted for the benchmark."""

    def __init__(self, exe, work, args):
        self.dir = os.path.join(work, "federation")
        self.log_path = os.path.join(work, "up.log")
        env = dict(os.environ)
        # The per-member rate limits (50/s by default) would measure the limiter, not the
        # services: lift them for this run only.
        for prefix in ("GATEWAY", "AGENCY_NODE"):
            env[f"{prefix}__LIMITS__PER_SECOND"] = "1000000"
            env[f"{prefix}__LIMITS__BURST"] = "1000000"
        self.proc = subprocess.Popen(
            [exe, "up", "--dir", self.dir, "--children", str(args.children),
             "--gateway-port", str(args.gateway_port),
             "--first-node-port", str(args.first_node_port)],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        deadline = time.time() + 300
        while time.time() < deadline:
            with open(self.log_path) as f:
                if "Press Ctrl-C" in f.read():
                    break
            if self.proc.poll() is not None:
                raise SystemExit("federation up exited early:\n" + open(self.log_path).read())
            time.sleep(1)
        else:
            raise SystemExit("federation up did not come up in 300 s")
        self.env = read_env(os.path.join(self.dir, "session.env"))
        with open(os.path.join(self.dir, "sample-children.json")) as f:
            self.samples = json.load(f)
        self.pki = os.path.join(self.dir, "pki")
        self.ca = self.env["CA_CERT"]
        self.gateway_cert = os.path.join(self.pki, "gateway.pem")
        self.gateway_key = os.path.join(self.pki, "gateway.key")
        self.token = self.env["TOKEN_DSL"]

    def pid(self, member):
        return int(self.env["PID_" + member.upper().replace("-", "_")])

    def node_url(self, member):
        return self.env["NODE_URL_" + member.upper().replace("-", "_")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def call(url, token, body=None, identity=None, ca=None):
    ctx = ssl.create_default_context(cafile=ca)
    if identity:
        ctx.load_cert_chain(*identity)
    req = urllib.request.Request(
        url, method="POST" if body is not None else "GET",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def find_children(fed):
    """A sample child held by exactly 4 agencies (else the most), and one held by 1."""
    found = []
    for sample in fed.samples:
        query = {"identifiers": sample["identifiers"], "demographics": sample["demographics"]}
        status, answer = call(f"{fed.env['GATEWAY_URL']}/v1/children:search?{CONTEXT}",
                              fed.token, query, ca=fed.ca)
        if status != 200:
            raise SystemExit(f"search answered {status}: {answer}")
        held = [a["agency_id"] for a in answer["agencies"] if a.get("status") == "held"]
        found.append((sample, query, held, answer.get("reference")))
    four = [f for f in found if len(f[2]) == 4] or sorted(found, key=lambda f: -len(f[2]))
    one = [f for f in found if len(f[2]) == 1]
    if not one:
        raise SystemExit("no sample child is held by exactly one agency")
    return four[0], one[0]


def local_refs(fed, query, held):
    """Each holding node's own reference for the child, asked as the gateway would."""
    refs = {}
    for member in held:
        status, answer = call(f"{fed.node_url(member)}/v1/federation/match?{CONTEXT}",
                              fed.token, query, (fed.gateway_cert, fed.gateway_key), fed.ca)
        if status != 200 or not answer.get("local_ref"):
            raise SystemExit(f"{member} match answered {status}: {answer}")
        refs[member] = answer["local_ref"]
    return refs


NGINX_CONF = """
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    upstream node {{
        server 127.0.0.1:{node_port};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass https://node;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_certificate {cert};
            proxy_ssl_certificate_key {key};
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            proxy_ssl_session_reuse on;
        }}
    }}
}}
"""


def start_nginx(nginx, work, fed, node_url, port):
    """nginx as the gateway would be, as a plain proxy: TLS in, mutual TLS to the node
    with the gateway's own certificate, kept-alive upstream connections."""
    node_port = int(node_url.rsplit(":", 1)[1])
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(work=work, node_port=node_port, port=port,
                                  cert=fed.gateway_cert, key=fed.gateway_key, ca=fed.ca))
    proc = subprocess.Popen([nginx, "-p", work, "-e", os.path.join(work, "nginx-error.log"), "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "nginx.out"), "w"),
                            start_new_session=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("nginx exited:\n" + open(os.path.join(work, "nginx.out")).read()
                             + open(os.path.join(work, "nginx-error.log")).read())
        try:
            status, _ = call(f"https://127.0.0.1:{port}/healthz", fed.token, ca=fed.ca)
            if status == 200:
                return proc
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    raise SystemExit("nginx did not answer within 20 s")


def children_of(pid):
    """Pids of a process's children (nginx's workers), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return sorted(found)


def load(exe, args, fed, label, url, concurrency, identity=False, reject=(), watch=()):
    cmd = [exe, "bench", "load", url, "--label", label, "--ca", fed.ca,
           "--header", f"Authorization: Bearer {fed.token}",
           "--concurrency", str(concurrency), "--warmup", str(args.warmup),
           "--duration", str(args.duration), "--threads", str(args.threads)]
    if identity:
        cmd += ["--cert", fed.gateway_cert, "--key", fed.gateway_key]
    for r in reject:
        cmd += ["--reject", r]
    for name, pid in watch:
        cmd += ["--watch", f"{name}={pid}"]
    report = json.loads(sh(cmd))
    lat = report["latency_ms"]
    log(f"  {label:<34} c={concurrency:<3} {report['throughput_rps']:8.1f} req/s  "
        f"p50 {lat['p50']:7.2f} ms  p99 {lat['p99']:7.2f} ms  errors {report['errors']}")
    return report


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--children", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=2, help="repeat every measurement; medians reported")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", default="1,16", help="comma-separated levels")
    p.add_argument("--threads", type=int, default=2, help="load generator threads")
    p.add_argument("--gateway-port", type=int, default=58443)
    p.add_argument("--first-node-port", type=int, default=59101)
    p.add_argument("--nginx-port", type=int, default=58080)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--out", default=os.path.join(ROOT, "target", "bench", "gateway.md"))
    args = p.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    started = time.time()
    info = machine()
    log(f"machine: {info['cores']} cores, {info['cpu']}, kernel {info['kernel']}")
    log(f"commit: {info['commit']}   load average at start: {info['load_average']}")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "federation"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "federation")
    nginx = ensure_nginx()
    nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()

    work = tempfile.mkdtemp(prefix="gateway-bench-")
    fed = nginx_proc = None
    results = []  # (round, kind, label, concurrency, report)
    try:
        fed = Federation(exe, work, args)
        (s4, q4, held4, ref4), (s1, q1, held1, ref1) = find_children(fed)
        refs4 = local_refs(fed, q4, held4)
        refs1 = local_refs(fed, q1, held1)
        lone = held1[0]
        log(f"view child held by {len(held4)}: {', '.join(held4)}; one-node child held by {lone}")
        nginx_proc = start_nginx(nginx, work, fed, fed.node_url(lone), args.nginx_port)
        gw = fed.env["GATEWAY_URL"]
        nginx_watch = [("nginx master", nginx_proc.pid)] + [
            (f"nginx worker {i}", w) for i, w in enumerate(children_of(nginx_proc.pid), 1)]
        watch_all = [("gateway", fed.pid("gateway"))] + [(m, fed.pid(m)) for m in held4]
        for rnd in range(1, args.rounds + 1):
            log(f"round {rnd} of {args.rounds}")
            for c in levels:
                for member in held4:
                    url = f"{fed.node_url(member)}/v1/federation/children/{refs4[member]}/records?{CONTEXT}"
                    results.append((rnd, "direct", member, c,
                                    load(exe, args, fed, f"direct {member}", url, c, identity=True,
                                         watch=[(member, fed.pid(member))])))
                url = f"{gw}/v1/children/{ref4}/view?{CONTEXT}"
                results.append((rnd, "view", "gateway view", c,
                                load(exe, args, fed, f"gateway view ({len(held4)} nodes)", url, c,
                                     reject=VIEW_REJECT, watch=watch_all)))
                path = f"/v1/federation/children/{refs1[lone]}/records?{CONTEXT}"
                results.append((rnd, "hop", "direct", c,
                                load(exe, args, fed, f"direct {lone}", fed.node_url(lone) + path,
                                     c, identity=True, watch=[(lone, fed.pid(lone))])))
                results.append((rnd, "hop", "nginx", c,
                                load(exe, args, fed, f"nginx -> {lone}",
                                     f"https://127.0.0.1:{args.nginx_port}{path}", c,
                                     watch=nginx_watch + [(lone, fed.pid(lone))])))
                results.append((rnd, "hop", "gateway", c,
                                load(exe, args, fed, f"gateway view (1 node: {lone})",
                                     f"{gw}/v1/children/{ref1}/view?{CONTEXT}", c,
                                     reject=VIEW_REJECT,
                                     watch=[("gateway", fed.pid("gateway")), (lone, fed.pid(lone))])))
        info["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        if nginx_proc and nginx_proc.poll() is None:
            nginx_proc.terminate()
            nginx_proc.wait(timeout=10)
        if fed:
            fed.stop()
        shutil.rmtree(work, ignore_errors=True)

    md = report(info, nginx_version, args, levels, held4, lone, results, time.time() - started)
    print(md)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    log(f"written to {args.out}")
    errors = sum(r[4]["errors"] for r in results)
    if errors:
        log(f"{errors} requests failed: see the errors column")
        sys.exit(1)


def report(info, nginx_version, args, levels, held4, lone, results, took):
    def pick(kind, label, c, field):
        return [field(r[4]) for r in results if r[1] == kind and r[2] == label and r[3] == c]

    tput = lambda r: r["throughput_rps"]
    p50 = lambda r: r["latency_ms"]["p50"]
    p99 = lambda r: r["latency_ms"]["p99"]
    errs = lambda r: r["errors"]
    out = []
    out.append(f"Machine: {info['cores']} cores, {info['cpu']} (kernel {info['kernel']}); "
               f"commit `{info['commit']}`; load average {info['load_average']} at start, "
               f"{info.get('load_average_end', '?')} at end. {nginx_version}.")
    out.append(f"{args.rounds} round(s) of {args.warmup:g} s warm-up + {args.duration:g} s measured "
               f"per figure, medians across rounds; {args.children} synthetic children; "
               f"HTTP/1.1 from the load generator; run took {took / 60:.1f} min.")
    out.append("")
    out.append(f"### 1. Federated view over {len(held4)} nodes ({', '.join(held4)}) vs. direct node calls")
    out.append("")
    out.append("| concurrency | target | req/s | p50 ms | p99 ms | errors |")
    out.append("|---|---|---|---|---|---|")
    ratios = []
    for c in levels:
        rows = [(m, "direct") for m in held4] + [("gateway view", "view")]
        for label, kind in rows:
            out.append(f"| {c} | {label if kind == 'view' else 'direct ' + label} | "
                       f"{median(pick(kind, label, c, tput)):.1f} | {median(pick(kind, label, c, p50)):.2f} | "
                       f"{median(pick(kind, label, c, p99)):.2f} | {sum(pick(kind, label, c, errs))} |")
        slowest = max(held4, key=lambda m: median(pick("direct", m, c, p99)))
        view = median(pick("view", "gateway view", c, p99))
        node = median(pick("direct", slowest, c, p99))
        ratios.append((c, slowest, view, node, median(pick("view", "gateway view", c, tput)),
                       median(pick("direct", slowest, c, tput)),
                       median(pick("view", "gateway view", c, p50)),
                       median(pick("direct", slowest, c, p50))))
    out.append("")
    out.append("### 2. One node call: direct, through nginx (mutual TLS upstream), through the gateway")
    out.append("")
    out.append(f"The node is `{lone}`; the gateway call is the view of a child only it holds.")
    out.append("")
    out.append("| concurrency | path | req/s | p50 ms | p99 ms | errors |")
    out.append("|---|---|---|---|---|---|")
    hops = []
    for c in levels:
        for label in ("direct", "nginx", "gateway"):
            out.append(f"| {c} | {label} | {median(pick('hop', label, c, tput)):.1f} | "
                       f"{median(pick('hop', label, c, p50)):.2f} | {median(pick('hop', label, c, p99)):.2f} | "
                       f"{sum(pick('hop', label, c, errs))} |")
        hops.append((c, median(pick("hop", "gateway", c, tput)), median(pick("hop", "nginx", c, tput))))
    out.append("")
    out.append("### 3. Resident memory under load (peak over the measured windows, MiB)")
    out.append("")
    peaks = {}
    for r in results:
        for name, rss in r[4]["rss"].items():
            peaks.setdefault(name, []).append(rss["peak_kib"])
    out.append("| process | peak RSS MiB | mean of per-run peaks MiB |")
    out.append("|---|---|---|")
    for name in sorted(peaks):
        out.append(f"| {name} | {max(peaks[name]) / 1024:.1f} | {statistics.mean(peaks[name]) / 1024:.1f} |")
    out.append("")
    out.append("### 4. CPU time per request (ms of CPU, user + system, medians across rounds)")
    out.append("")
    out.append("Read from `/proc/<pid>/stat` at the start and end of each measured window, over the "
               f"requests answered in it. On {info['cores']} cores, a figure whose processes use more "
               "CPU per request than cores x latency cannot be served in parallel: they queue.")
    out.append("")
    out.append("| concurrency | measurement | CPU ms per request, by process | total |")
    out.append("|---|---|---|---|")
    seen = []
    for r in results:
        key = (r[3], r[1], r[2])
        if key in seen:
            continue
        seen.append(key)
        c, kind, label = key
        reports = [x[4] for x in results if (x[3], x[1], x[2]) == key]
        names = sorted({n for rep in reports for n in rep.get("cpu", {})},
                       key=lambda n: (n == "load generator", n))
        per = {n: median([rep["cpu"][n]["ms_per_request"] for rep in reports if n in rep.get("cpu", {})])
               for n in names}
        if not per:
            continue
        what = {"direct": f"direct {label}", "view": f"gateway view ({len(held4)} nodes)",
                "hop": f"{label} (one node, {lone})"}[kind]
        cells = ", ".join(f"{n} {v:.3f}" for n, v in per.items())
        out.append(f"| {c} | {what} | {cells} | {sum(per.values()):.3f} |")
    out.append("")
    out.append("### Ratios")
    out.append("")
    out.append("| concurrency | figure | ratio | target | met |")
    out.append("|---|---|---|---|---|")
    for c, slowest, view, node, vt, nt, v50, n50 in ratios:
        r = view / node if node else float("inf")
        out.append(f"| {c} | view p99 / slowest node ({slowest}) p99 | {r:.2f} | <= 1.3 | "
                   f"{'yes' if r <= 1.3 else 'no'} |")
        out.append(f"| {c} | view p50 / that node's p50 | {v50 / n50 if n50 else float('inf'):.2f} | | |")
        out.append(f"| {c} | view throughput / that node's throughput | {vt / nt if nt else 0:.2f} | | |")
    for c, g, n in hops:
        r = g / n if n else 0
        out.append(f"| {c} | gateway throughput / nginx throughput (one node) | {r:.2f} | >= 0.5 | "
                   f"{'yes' if r >= 0.5 else 'no'} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
