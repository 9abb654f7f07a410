#!/usr/bin/env python3
"""The deploy files (deploy/docker, deploy/compose, deploy/k8s) checked
against the code as far as a machine without a container engine allows:
they parse; every image, package, port, probe path, environment variable,
file path, consumer group and command they use exists in the code and the
build; and the worker binaries, built and installed as the image's build
stage does it and started with the Kubernetes manifests' commands and
environment, serve /readyz and stop on SIGTERM within the pod's grace
period.

Usage: deploy_check.py SOURCE_DIR
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

SRC = sys.argv[1]
problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def check(cond, where, what):
    if not cond:
        problem(where, what)
    return cond


def run(*args, env=None, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, env=env,
                          timeout=timeout)


# --- the image's build stage, run here ---------------------------------------

DOCKERFILE = os.path.join(SRC, "deploy/docker/Dockerfile")


def dockerfile_instructions(path):
    text = open(path).read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def apt_packages(run_line):
    m = re.search(r"apt-get install ([^&]*)", run_line)
    return {w for w in m.group(1).split() if not w.startswith("-")} if m else set()


def build_as_image():
    """The build stage's COPY and cmake steps, with /build and /usr/local
    moved under a temporary directory: the programs checked and started
    below are the ones the image would hold, built with its flags (a
    Release build warns where the tests' builds do not)."""
    top = tempfile.mkdtemp(prefix="lamfleet-image-")
    src, prefix = os.path.join(top, "src"), os.path.join(top, "usr/local")
    os.makedirs(src)
    stage = False
    for word, rest in dockerfile_instructions(DOCKERFILE):
        if word == "FROM":
            stage = rest.upper().endswith(" AS BUILD")
        elif stage and word == "COPY":
            *paths, dest = rest.split()
            for p in paths:
                to = os.path.normpath(os.path.join(src, dest))
                if os.path.isdir(os.path.join(SRC, p)):
                    shutil.copytree(os.path.join(SRC, p), to)
                else:
                    shutil.copy(os.path.join(SRC, p), to)
        elif stage and word == "RUN" and "cmake -S" in rest:
            cmd = rest.replace("/usr/local", prefix)
            cmd = re.sub(r"(?<=\s)/build\b", os.path.join(top, "build"), cmd)
            r = subprocess.run(["bash", "-c", cmd], cwd=src, capture_output=True,
                               text=True, timeout=900)
            if r.returncode:
                sys.exit(f"the image's build fails: {cmd}\n{r.stdout[-4000:]}"
                         f"{r.stderr[-4000:]}")
    return top, prefix


TOP, PREFIX = build_as_image()
BIN = os.path.join(PREFIX, "bin")
CLI = os.path.join(BIN, "lamfleet")


def properties():
    """property -> default, from the table every program uses."""
    out = run(CLI, "config", "list").stdout.splitlines()[1:]
    props = {}
    for line in out:
        m = re.match(r"(\S+)\s+\S+\s+(\S+)", line)
        if m:
            props[m.group(1)] = m.group(2).strip('"')
    return props


PROPS = properties()
PORT = int(PROPS["metrics.port"])
DRAIN_MS = int(PROPS["worker.drain.timeout.ms"])
GROUPS = {k: PROPS[f"{k}.group.id"] for k in ("planner", "guard", "executor")}
HEALTH_SRC = open(os.path.join(SRC, "core/health.c")).read()
TOPIC_SUFFIXES = re.findall(r'"([a-z.]+)"', re.search(
    r"topic_suffix\[\w*\]\s*=\s*\{([^}]*)\}",
    open(os.path.join(SRC, "proto/proto.c")).read(), re.S).group(1))


def env_var_known(name, where):
    """LAMFLEET_<KEY> must name a property (or kafka.* passthrough)."""
    if not name.startswith("LAMFLEET_"):
        return
    key = name[len("LAMFLEET_"):].lower().replace("_", ".")
    check(key in PROPS or key.startswith("kafka."), where,
          f"{name}: no property {key} (lamfleet config list)")


def probe_path_known(path, where):
    check(f'"{path}"' in HEALTH_SRC, where,
          f"probe path {path} is not served (core/health.c)")


OWNERS = {}


def package_of(path):
    """The Debian package owning path (under either spelling of a merged
    /usr), asked once per file."""
    real = os.path.realpath(path)
    spellings = sorted({path, real, "/usr" + real, real.replace("/usr/", "/", 1)})
    if not any(p in OWNERS for p in spellings):
        out = run("dpkg", "-S", *spellings).stdout
        for line in out.splitlines():
            pkg, _, owned = line.partition(": ")
            OWNERS[owned.strip()] = pkg.split(":")[0]
        for p in spellings:
            OWNERS.setdefault(p, None)
    return next((OWNERS[p] for p in spellings if OWNERS.get(p)), None)


# --- deploy/docker/Dockerfile -----------------------------------------------

def check_dockerfile():
    where = "deploy/docker/Dockerfile"
    ins = dockerfile_instructions(DOCKERFILE)
    froms = [rest for word, rest in ins if word == "FROM"]
    check(len(froms) >= 2, where, "not multi-stage")
    for f in froms:
        check(f.split()[0] == "debian:bookworm-slim", where,
              f"FROM {f}: not debian:bookworm-slim")
    stages, current = {}, None
    for word, rest in ins:
        if word == "FROM":
            current = rest.split()[-1] if " AS " in rest.upper() else "final"
            stages[current] = []
        stages[current].append((word, rest))
    build = [r for w, r in stages.get("build", []) if w == "RUN"]
    final = stages.get("final", [])
    build_pkgs = set().union(*(apt_packages(r) for r in build))
    final_pkgs = set().union(*(apt_packages(r) for w, r in final if w == "RUN"))

    # What CMake needs, as the Debian packages that provide it.
    cmake = open(os.path.join(SRC, "CMakeLists.txt")).read()
    for module in re.findall(r"pkg_check_modules\(\w+ REQUIRED IMPORTED_TARGET (\S+)\)",
                             cmake):
        pcdir = run("pkg-config", "--variable=pcfiledir", module).stdout.strip()
        pkg = package_of(os.path.join(pcdir, module + ".pc"))
        check(pkg in build_pkgs, where,
              f"build stage lacks {pkg} (pkg-config {module})")
    protoc = shutil.which("protoc-c")
    check(package_of(protoc) in build_pkgs, where,
          "build stage lacks protoc-c's package")
    for need in ("gcc", "make", "cmake", "pkg-config"):
        check(need in build_pkgs, where, f"build stage lacks {need}")

    # What the binaries link, as the packages the final stage installs.
    for exe in sorted(os.listdir(BIN)):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                            run("readelf", "-d", os.path.join(BIN, exe)).stdout)
        resolved = dict(re.findall(r"^\s*(\S+) => (\S+)",
                                   run("ldd", os.path.join(BIN, exe)).stdout, re.M))
        for lib in needed:
            if lib.startswith(("libasan.", "libubsan.")):
                continue  # the sanitizer build's runtime, not the image's
            pkg = package_of(resolved.get(lib, lib)) if lib in resolved else None
            if pkg in ("libc6", None) and lib.startswith(("libc.", "libm.", "ld-")):
                continue
            check(pkg in final_pkgs, where,
                  f"final stage lacks {pkg} ({exe} needs {lib})")
    check("curl" in final_pkgs, where, "the health check needs curl")

    users = [r for w, r in final if w == "USER"]
    check(users and users[-1].split(":")[0] not in ("0", "root"), where,
          "the final stage does not switch to a non-root user")
    uid = users[-1].split(":")[0] if users else None
    exposed = [r for w, r in final if w == "EXPOSE"]
    check(exposed == [str(PORT)], where,
          f"EXPOSE {exposed}: the metrics port is {PORT}")
    hc = " ".join(r for w, r in final if w == "HEALTHCHECK")
    m = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*)", hc)
    if check(m, where, "HEALTHCHECK does not GET a local URL"):
        check(int(m.group(1)) == PORT, where, f"HEALTHCHECK port {m.group(1)}")
        probe_path_known(m.group(2), where)

    # The build installs where the examples directory is compiled in.
    cfg = " ".join(build)
    prefix = re.search(r"-DCMAKE_INSTALL_PREFIX=(\S+)", cfg)
    examples = re.search(r"-DLF_EXAMPLES_DIR=(\S+)", cfg)
    if check(prefix and examples, where, "no install prefix / examples dir"):
        check(examples.group(1) == prefix.group(1) + "/share/lamfleet/examples",
              where, "LF_EXAMPLES_DIR is not where cmake --install puts them")
        check(os.path.isdir(os.path.join(PREFIX, "share/lamfleet/examples")),
              where, "cmake --install installs no examples")
    for w, rest in stages.get("build", []):
        if w == "COPY":
            for src in rest.split()[:-1]:
                check(os.path.exists(os.path.join(SRC, src)), where,
                      f"COPY {src}: no such file in the repository")
    for w, rest in final:
        if w == "COPY" and "/usr/local/bin" in rest:
            check(sorted(os.listdir(BIN)) == ["lamfleet", "lamfleet-executor",
                                              "lamfleet-guard", "lamfleet-planner"],
                  where, f"installed programs: {os.listdir(BIN)}")
    return uid


# --- the catalog and commands -----------------------------------------------

def lint_catalog(path, env, where):
    r = run(CLI, "catalog", "lint", path, env=env)
    check(r.returncode == 0, where, f"catalog lint {path}: {r.stdout}{r.stderr}")
    text = open(path).read()
    for var in set(re.findall(r"\$\{(\w+)\}", text)):
        check(var in env, where, f"the catalog uses ${{{var}}}, not set")


def command_known(cmd, where):
    if check(cmd and os.path.exists(os.path.join(BIN, cmd[0])), where,
             f"command {cmd}: no such program in the image"):
        return os.path.join(BIN, cmd[0])
    return None


# --- deploy/compose/compose.yaml --------------------------------------------

def check_compose(uid):
    where = "deploy/compose/compose.yaml"
    path = os.path.join(SRC, where)
    c = yaml.safe_load(open(path))
    svc = c["services"]
    kafka = svc.get("kafka", {}).get("environment", {})
    check("controller" in str(kafka.get("KAFKA_PROCESS_ROLES", "")), where,
          "Kafka is not in KRaft mode (KAFKA_PROCESS_ROLES)")
    check(not any("zookeeper" in s for s in svc), where, "ZooKeeper is not needed")
    check("redis" in svc, where, "no Redis")
    topics = svc.get("topics", {})
    cmd = topics.get("command", [])
    check(cmd[:3] == ["lamfleet", "topics", "create"], where,
          "the topics job does not run lamfleet topics create")
    for kind in GROUPS:
        s = svc.get(kind)
        if not check(s, where, f"no {kind} service"):
            continue
        sw = f"{where} {kind}"
        command_known(s.get("command"), sw)
        check(s.get("command", [""])[0] == f"lamfleet-{kind}", sw, "wrong program")
        check("container_name" not in s and not s.get("ports"), sw,
              "container_name or host ports stop --scale")
        check(s.get("deploy", {}).get("replicas", 1) >= 1, sw, "no replicas")
        grace = s.get("stop_grace_period", "10s")
        check(int(grace.rstrip("s")) * 1000 > DRAIN_MS, sw,
              f"stop_grace_period {grace} is not above the drain timeout")
        deps = s.get("depends_on", {})
        check(deps.get("topics", {}).get("condition") ==
              "service_completed_successfully", sw, "does not wait for topics")
        env = s.get("environment", {})
        for name in env:
            env_var_known(name, sw)
        check(env.get("LAMFLEET_KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092", sw,
              "does not point at the kafka service")
        check(str(env.get("LAMFLEET_REDIS_URL", "")).startswith("redis://redis:"),
              sw, "does not point at the redis service")
    # The catalog config, as the workers read it.
    env = dict(os.environ, **{k: str(v) for k, v in
                              svc["guard"].get("environment", {}).items()})
    targets = {cfg["target"]: c["configs"][cfg["source"]]["file"]
               for cfg in svc["guard"].get("configs", [])}
    cat = targets.get(env.get("LAMFLEET_GUARD_CATALOG"))
    if check(cat, where, "LAMFLEET_GUARD_CATALOG is not a mounted config"):
        lint_catalog(os.path.normpath(os.path.join(os.path.dirname(path), cat)),
                     env, where)
    keys = svc["guard"]["environment"].get("LAMFLEET_SIGNING_KEYS_FILE", "")
    check(keys == "/run/secrets/signing_keys" and "signing_keys" in c["secrets"],
          where, "the signing keys are not the signing_keys secret")
    obs = svc["planner"]["environment"].get("LAMFLEET_OBSERVATION_KEYS_FILE", "")
    check(obs == "/run/secrets/observation_keys" and
          "observation_keys" in c["secrets"], where,
          "the observation keys are not the observation_keys secret")
    appr = svc["guard"]["environment"].get("LAMFLEET_APPROVERS_FILE")
    check(appr in targets, where, "LAMFLEET_APPROVERS_FILE is not a mounted config")
    ignored = open(os.path.join(SRC, ".gitignore")).read()
    for f in ("signing.keys", "observation.keys"):
        check(f"deploy/compose/{f}" in ignored and f"deploy/k8s/{f}" in ignored,
              ".gitignore", f"{f} files not ignored")
    # The topics job's flags are the CLI's (the mock cluster never answers
    # CreateTopics: 3 after the timeout, never 2, a usage error).
    return cmd[1:]


# --- deploy/k8s --------------------------------------------------------------

def load_k8s():
    d = os.path.join(SRC, "deploy/k8s")
    kust = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
    docs = []
    for res in kust["resources"]:
        p = os.path.join(d, res)
        if check(os.path.exists(p), "deploy/k8s/kustomization.yaml",
                 f"resource {res} missing"):
            docs += [x for x in yaml.safe_load_all(open(p)) if x]
    return d, kust, docs


def literals(kust, name):
    for g in kust.get("configMapGenerator", []):
        if g["name"] == name:
            return dict(kv.split("=", 1) for kv in g.get("literals", []))
    return None


def container_env(kust, c):
    env = {}
    for ref in c.get("envFrom", []):
        name = ref.get("configMapRef", {}).get("name")
        lit = literals(kust, name)
        if check(lit is not None, "deploy/k8s", f"envFrom {name}: no such ConfigMap"):
            env.update(lit)
    for e in c.get("env", []):
        # From a Secret: set in the cluster, a stand-in here.
        env[e["name"]] = str(e.get("value", "from-a-secret"))
    return env


def mounted_file(kust, pod, c, path, where):
    """The repository file a container path comes from (ConfigMap or
    Secret generated from files), or None."""
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        if not path.startswith(m["mountPath"].rstrip("/") + "/"):
            continue
        fname = path[len(m["mountPath"].rstrip("/")) + 1:]
        v = vols.get(m["name"], {})
        src = v.get("configMap", {}).get("name") or v.get("secret", {}).get("secretName")
        gens = kust.get("configMapGenerator", []) + kust.get("secretGenerator", [])
        for g in gens:
            if g["name"] == src and fname in g.get("files", []):
                return fname
        problem(where, f"{path}: {src} has no file {fname}")
        return None
    problem(where, f"{path}: not on a mounted volume")
    return None


def check_k8s(uid):
    d, kust, docs = load_k8s()
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    images = {i["name"] for i in kust.get("images", [])}
    deployments = {}
    for dep in by_kind.get("Deployment", []):
        name = dep["metadata"]["name"]
        where = f"deploy/k8s Deployment {name}"
        pod = dep["spec"]["template"]["spec"]
        check(dep["spec"]["selector"]["matchLabels"].items() <=
              dep["spec"]["template"]["metadata"]["labels"].items(), where,
              "the selector does not match the pod labels")
        check(str(pod.get("securityContext", {}).get("runAsUser")) == uid, where,
              f"runAsUser is not the image's user {uid}")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        c = pod["containers"][0]
        check(c["image"].split(":")[0] in images, where, f"image {c['image']}")
        exe = command_known(c.get("command"), where)
        kind = c["command"][0].replace("lamfleet-", "")
        env = container_env(kust, c)
        for n in env:
            env_var_known(n, where)
        drain = int(env.get("LAMFLEET_WORKER_DRAIN_TIMEOUT_MS", DRAIN_MS))
        check(grace * 1000 >= drain + 5000, where,
              f"grace period {grace} s leaves no room after the {drain} ms drain")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"),
                            ("readinessProbe", "/readyz")):
            g = c.get(probe, {}).get("httpGet", {})
            check(g.get("path") == path, where, f"{probe} is not {path}")
            probe_path_known(g.get("path", ""), where)
            check(ports.get(g.get("port"), g.get("port")) == PORT, where,
                  f"{probe} port is not metrics.port {PORT}")
        files = {}
        for var in ("LAMFLEET_GUARD_CATALOG", "LAMFLEET_SIGNING_KEYS_FILE",
                    "LAMFLEET_OBSERVATION_KEYS_FILE", "LAMFLEET_APPROVERS_FILE"):
            if var in env:
                f = mounted_file(kust, pod, c, env[var], where)
                if f:
                    files[var] = os.path.join(d, f)
        if kind in ("guard", "executor"):
            check("LAMFLEET_SIGNING_KEYS_FILE" in files, where,
                  "no signing keys from the Secret")
        else:  # a planner with the signing keys could approve anything
            check("LAMFLEET_SIGNING_KEYS_FILE" not in env, where,
                  "a planner must not hold the signing keys")
        check("LAMFLEET_OBSERVATION_KEYS_FILE" in files, where,
              "no observation keys from the Secret")
        if kind == "guard":
            check("LAMFLEET_APPROVERS_FILE" in files, where,
                  "no approvers from the ConfigMap")
        if kind == "executor" and "LAMFLEET_GUARD_CATALOG" in files:
            lint_catalog(files["LAMFLEET_GUARD_CATALOG"],
                         dict(os.environ, **env), where)
        deployments[name] = (kind, exe, env, files, grace, dep)
    check(sorted(k for k, *_ in deployments.values()) ==
          ["executor", "guard", "planner"], "deploy/k8s",
          "not one Deployment per worker kind")
    for name, (kind, exe, env, files, grace, dep) in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
                if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        check(len(pdbs) == 1, f"deploy/k8s {name}", "no PodDisruptionBudget")
        sos = [s for s in by_kind.get("ScaledObject", [])
               if s["spec"]["scaleTargetRef"]["name"] == name]
        if not check(len(sos) == 1, f"deploy/k8s {name}", "no KEDA ScaledObject"):
            continue
        where = f"deploy/k8s ScaledObject {sos[0]['metadata']['name']}"
        t = sos[0]["spec"]["triggers"][0]
        meta = t["metadata"]
        check(t["type"] == "kafka", where, "not the kafka scaler")
        check(meta.get("consumerGroup") == GROUPS[kind], where,
              f"consumerGroup is not {GROUPS[kind]}")
        check(meta.get("bootstrapServersFromEnv") in env, where,
              "bootstrapServersFromEnv names no variable of the container")
        if "topic" in meta:
            check(meta["topic"][len(PROPS["topic.prefix"]):] in TOPIC_SUFFIXES,
                  where, f"topic {meta['topic']} is not a fleet topic")
    return deployments


# --- the binaries as the manifests start them -------------------------------

def port_free(port):
    with socket.socket() as s:
        # as the workers' HTTP server binds: a predecessor's closed
        # connections (TIME_WAIT) do not make the port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def start_dev(keys, obs_keys):
    log = tempfile.NamedTemporaryFile("w+", prefix="lamfleet-dev-", delete=False)
    dev = subprocess.Popen([CLI, "-X", "metrics.port=-1", "-X",
                            f"signing.keys.file={keys}", "-X",
                            f"observation.keys.file={obs_keys}", "dev"],
                           stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        text = open(log.name).read()
        bs = re.search(r"kafka.bootstrap.servers\s+(\S+)", text)
        redis = re.search(r"redis.url\s+(\S+)", text)
        if bs and redis:
            return dev, bs.group(1), redis.group(1)
        time.sleep(0.1)
    dev.kill()
    sys.exit("lamfleet dev did not start:\n" + open(log.name).read())


def start_as_manifest(name, kind, exe, env, files, grace, bs, redis):
    where = f"deploy/k8s {name} (started)"
    env = dict(env)
    env["LAMFLEET_KAFKA_BOOTSTRAP_SERVERS"] = bs
    env["LAMFLEET_REDIS_URL"] = redis
    env.update(files)  # the repository files the mounts hold
    env["LAMFLEET_KAFKA_SESSION_TIMEOUT_MS"] = "6000"  # the mock's joins
    port = PORT
    if not port_free(PORT):
        port = next_free_port()
        print(f"port {PORT} is busy here: {name} serves on {port} instead")
        env["LAMFLEET_METRICS_PORT"] = str(port)
    full_env = {"PATH": os.environ["PATH"], **env}
    p = subprocess.Popen([exe], env=full_env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    ready = None
    for _ in range(300):
        status, body = get(port, "/readyz")
        if status == 200 or p.poll() is not None:
            ready = status
            break
        time.sleep(0.1)
    if check(ready == 200, where, f"/readyz never 200 (exit {p.poll()})"):
        check(get(port, "/healthz")[0] == 200, where, "/healthz not 200")
        m = get(port, "/metrics")[1]
        check("lamfleet_assigned_partitions" in m, where, "/metrics lacks the fleet's")
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=grace)
        check(rc == 0, where, f"SIGTERM: exit {rc}: {p.stderr.read()[-2000:]}")
        print(f"{name}: ready, then stopped by SIGTERM in "
              f"{time.monotonic() - t0:.1f} s (grace {grace} s)")
    except subprocess.TimeoutExpired:
        p.kill()
        problem(where, f"still running {grace} s after SIGTERM")


def next_free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    t0 = time.monotonic()
    uid = check_dockerfile()
    topics_args = check_compose(uid)
    deployments = check_k8s(uid)
    print(f"files checked in {time.monotonic() - t0:.1f} s")
    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as k:
        k.write("deploy-check:" + os.urandom(32).hex() + "\n")
    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as o:
        o.write("deploy-check-obs:" + os.urandom(32).hex() + "\n")
    dev, bs, redis = start_dev(k.name, o.name)
    try:
        r = run(CLI, "-b", bs, *topics_args, "--timeout", "1")
        check(r.returncode == 3 and "CreateTopics" in r.stderr,
              "deploy/compose/compose.yaml topics",
              f"lamfleet {' '.join(topics_args)}: exit {r.returncode}: {r.stderr}")
        for name, (kind, exe, env, files, grace, _) in sorted(deployments.items()):
            if exe:
                env = dict(env)
                if "LAMFLEET_SIGNING_KEYS_FILE" in files:
                    files = dict(files, LAMFLEET_SIGNING_KEYS_FILE=k.name)
                if "LAMFLEET_OBSERVATION_KEYS_FILE" in files:
                    files = dict(files, LAMFLEET_OBSERVATION_KEYS_FILE=o.name)
                start_as_manifest(name, kind, exe, env, files, grace, bs, redis)
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
        os.unlink(k.name)
        os.unlink(o.name)
        shutil.rmtree(TOP, ignore_errors=True)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(f"{len(problems)} problem(s) in the deploy files")
    print("deploy files: consistent with the code; workers start, serve "
          "/readyz and stop on SIGTERM as the manifests expect")


main()
