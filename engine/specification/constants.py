"""Defaults, names and rules shared by several modules, each written once.

Every environment variable the engine reads is named here.

Keys, defaults and accepted values of sink settings are not here: they come from
the settings tables (``schema/*.md``). Exit codes live in ``engine.specification.exitcodes``.
"""

from __future__ import annotations

# Where the engine looks for KurrentDB when no --kurrentdb / $KURRENTDB_URL is given.
DEFAULT_KURRENTDB_URL = "esdb://localhost:2113?Tls=false"
KURRENTDB_URL_VARIABLE = "KURRENTDB_URL"
# The KurrentDB client libraries the engine can read through, the default first, and the
# variable that picks one (unset: the first of them that is installed).
KURRENTDB_CLIENTS = ("esdbclient", "kurrentdbclient")
KURRENTDB_CLIENT_VARIABLE = "SINKS_KURRENTDB_CLIENT"

# The ports `sinks sandbox start` gives the local Kafka broker and KurrentDB-protocol server.
SANDBOX_KAFKA_PORT = 9092
SANDBOX_KURRENTDB_PORT = 2113

# The compacted topic where exactly-once sinks commit their checkpoints, keyed by sink
# name. It shares the cluster mode's "__sinks-engine" prefix, yet no group's control
# topics ("__sinks-engine.<group>.<sink>") can be named like it.
CHECKPOINT_TOPIC = "__sinks-engine.checkpoints"

# The status/metrics HTTP endpoint of `sinks run` (loopback only by default), and the
# variable holding the bearer token it then requires (the flag shows in `ps`, this not).
DEFAULT_STATUS_ADDR = "127.0.0.1:7781"
STATUS_TOKEN_VARIABLE = "SINKS_STATUS_TOKEN"

# The running engine loads the changed sink files of a reload on this many threads, and
# a reload waits this long for them before it applies the files that are done (a file
# still rendering applies when it finishes: engine.config.source).
RELOAD_LOAD_WORKERS = 4
RELOAD_PATIENCE_S = 0.25
# The engine's main loop looks at its stop flag at least this often, whatever its
# queue says (signal handlers post to it; see engine.supervisor.app.EngineApp.serve).
QUEUE_RECHECK_S = 1.0

# The folder of sink files, and the variable that names the environment.
DEFAULT_SINKS_DIR = "sinks.d"
ENV_VARIABLE = "SINKS_ENV"

# Sink files, templates first so the longer suffix wins; config tests are skipped.
TEMPLATE_SUFFIX = ".j2"
SINK_SUFFIXES = (".yaml.j2", ".yml.j2", ".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")
# Folders starting with these hold values/templates (``_``) or are hidden (``.``).
SKIPPED_FOLDER_PREFIXES = ("_", ".")

# User regular expressions run per event (stream filters, partition keys, the match()
# and search() functions of JSONPath filters): one search gives up after
# REGEX_SEARCH_LIMIT_S, and all the searches of one JSONPath filter on one event after
# JSONPATH_REGEX_BUDGET_S together (a filter that searches every item of a long array
# would otherwise take the search limit once per item). A stream name or an event type
# matches in microseconds: only a pathological pattern gets near either bound.
REGEX_SEARCH_LIMIT_S = 0.1
JSONPATH_REGEX_BUDGET_S = 0.5

# Kafka transactions (cluster mode, and every sink with delivery:guarantee exactlyOnce):
# the broker aborts the open transaction of a producer silent for this long.
TRANSACTION_TIMEOUT_MS = 60_000
# exactlyOnce: the longest autocommit:interval and resilience:requestTimeoutMs accepted,
# half the transaction timeout, so a transaction the sink means to commit is never
# aborted by the broker first.
EXACTLY_ONCE_MAX_WAIT_MS = TRANSACTION_TIMEOUT_MS // 2
# The engine id a standalone engine (no --group) puts in its sinks' transactional ids.
DEFAULT_ENGINE_ID = "standalone"
ENGINE_ID_VARIABLE = "SINKS_ENGINE_ID"

# Seconds each sink gets to flush and write its last checkpoint when it stops (`sinks run
# --shutdown-timeout`, the supervisor's stop and shutdown, and a worker's stop).
SHUTDOWN_TIMEOUT_S = 30.0
# Messages one sink may have sent and not yet seen confirmed; a sink at this bound waits
# for confirmations before it sends more.
IN_FLIGHT_CAPACITY = 50_000

# Sink names: 1-100 characters, letters, digits, '.', '_', '-', starting with a letter or
# digit. The config loader, the generated schema and the cluster mode's topic names all
# use this pattern (no other character is legal in a Kafka topic name).
SINK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
SINK_NAME_RULE = "1-100 characters: letters, digits, '.', '_', '-', starting with a letter or digit"

# `sinks run`'s cluster-mode options (engine.supervisor.group.options), each with the variable
# that gives it when the flag does not.
CLUSTER_OPTION_VARIABLES = {
    "group": "SINKS_GROUP",
    "group_bootstrap": "SINKS_GROUP_BOOTSTRAP",
    "group_security_protocol": "SINKS_GROUP_SECURITY_PROTOCOL",
    "group_sasl_mechanism": "SINKS_GROUP_SASL_MECHANISM",
    "group_username": "SINKS_GROUP_USERNAME",
    "group_password": "SINKS_GROUP_PASSWORD",
    "group_ca_file": "SINKS_GROUP_CA_FILE",
    "group_session_timeout_ms": "SINKS_GROUP_SESSION_TIMEOUT_MS",
    "processes": "SINKS_PROCESSES",
}
# Folders outside the config root that a template's secret_file() may read.
SECRET_DIRS_VARIABLE = "SINKS_SECRET_DIRS"

# Each sink file is evaluated (rendered, parsed, validated, its regexes, JSONPath and
# JavaScript compiled) in a worker process of its own (engine.config.isolation), which is
# stopped when it passes one of these bounds. The deadline is the parent's wall clock from
# the moment the file is handed to a worker; it is later than the template's own 10 s
# bound (engine.config.templating), which stops a render first and names its line. The
# CPU-time limit is the worker's backstop for a parent that is gone; the address-space
# limit makes an allocation beyond it fail in the worker instead of taking the machine.
EVALUATION_DEADLINE_S = 15.0
EVALUATION_CPU_S = 20
EVALUATION_MEMORY_BYTES = 512 * 1024 * 1024
# V8 reserves terabytes of address space at start, so a transformer's JavaScript is
# compiled in a short-lived child of the worker without the address-space limit, stopped
# after this many seconds or once its resident memory passes EVALUATION_MEMORY_BYTES
# (V8's own heap limit and its 5 s per call stop it first in every case measured).
TRANSFORMER_CHECK_DEADLINE_S = 12.0
# How long `sinks run`'s first poll waits for the files before the engine starts with
# those that are loaded; the others are pending and apply when they finish.
FIRST_LOAD_PATIENCE_S = 5.0
