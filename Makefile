# The two quick-start commands are `make demo` and `make test`; both set up what they need.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint security format bench bench-quick redis-server clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/outbox demo

redis-server:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (the tests start private ones)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

test: $(STAMP) redis-server
	# Two workers: one per core here. Every test starts its own servers on free ports or sockets.
	$(BIN)/pytest -rs -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/function_length.py
	$(BIN)/python tools/queries_in_store.py

# checkov in a virtualenv of its own: its pins clash with the project's. The stamp names the
# version, so changing it reinstalls.
CHECKOV_VERSION := 3.3.30
SECURITY_VENV := .venv-security
SECURITY_STAMP := $(SECURITY_VENV)/.installed-$(CHECKOV_VERSION)
# The Kubernetes checks only; --compact --quiet: each scan's summary line (passed, failed, skipped)
# and every failed check with its id, resource and file. --skip-download: no call to the
# vendor's platform (which may be unreachable, and only maps its BC_* ids to these).
CHECKOV := $(SECURITY_VENV)/bin/checkov --framework kubernetes --compact --quiet --skip-download
RENDERED := build/security/gateways

# Skips, and only these. deploy/ (the control plane):
#   CKV_K8S_43 (image by digest): the manifests name the version they were written for
#     (gateway-outbox:0.1.0); the digest exists only once an installation has built and pushed
#     the image, which this repository does not do, so the installation pins it in its overlay
#     (kustomize `images:` with `digest:`).
#   CKV_K8S_15 (imagePullPolicy Always): a version tag names one build, and IfNotPresent starts
#     a pod on a node that already has it without asking the registry (a registry outage then
#     stops no restart). Always guards only against a re-pushed tag, which the digest pinned in
#     the overlay guards against for good.
DEPLOY_SKIPS := CKV_K8S_43,CKV_K8S_15
# A tenant's gateway (the Deployment, Service, NetworkPolicy and Ingress the provisioner renders):
#   CKV_K8S_43, CKV_K8S_15: the image, its tag and whether it is pulled again are the tenant's
#     choice, stored in the gateway's spec, not ours to pin.
#   CKV_K8S_11 (CPU limit): none on purpose. A proxy throttled by the CFS quota holds every
#     request it is serving for the rest of the period, so a limit adds latency to all of them;
#     the CPU request still gives it its share under contention, and the memory limit bounds it.
GATEWAY_SKIPS := CKV_K8S_43,CKV_K8S_15,CKV_K8S_11

$(SECURITY_STAMP):
	python3 -m venv $(SECURITY_VENV)
	$(SECURITY_VENV)/bin/pip install --quiet --upgrade pip
	$(SECURITY_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(SECURITY_STAMP)

# Both scans run even when the first finds something; any failed check fails the target.
security: $(STAMP) $(SECURITY_STAMP)
	@status=0; \
	echo "== checkov $(CHECKOV_VERSION): deploy/ (skipped by policy: $(DEPLOY_SKIPS))"; \
	$(CHECKOV) --directory deploy --skip-check $(DEPLOY_SKIPS) || status=1; \
	rm -rf $(RENDERED) && $(BIN)/python tools/render_gateways.py $(RENDERED) || exit 1; \
	echo "== checkov $(CHECKOV_VERSION): tenant gateways from provisioner.manifests" \
		"(skipped by policy: $(GATEWAY_SKIPS))"; \
	$(CHECKOV) --directory $(RENDERED) --skip-check $(GATEWAY_SKIPS) || status=1; \
	[ $$status -eq 0 ] || { echo "make security: checkov found failed checks"; exit 1; }

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCHMARKS := benchmarks.writer benchmarks.relay benchmarks.stream benchmarks.provisioner \
	benchmarks.watch benchmarks.partitions benchmarks.cli benchmarks.tracing benchmarks.api

# Every benchmark runs even after one misses its target; the status says whether any did.
bench: $(STAMP) redis-server
	@status=0; for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python -m $$b || status=1; done; \
	[ $$status -eq 0 ] || { echo "make bench: a benchmark missed its target or failed"; exit 1; }

# Tiny sizes, one round: proves each benchmark still runs (CI), says nothing about timing.
bench-quick: $(STAMP) redis-server
	@for b in $(BENCHMARKS); do echo "== $$b --quick"; $(BIN)/python -m $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) $(SECURITY_VENV) build/security .mypy_cache .ruff_cache .pytest_cache .hypothesis
