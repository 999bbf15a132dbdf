# Eventide realtime. `make run` starts the server on its embedded defaults;
# `make test` runs every test (Go with -race, then the npm-driven end-to-end
# and browser tests). See README.md.

GO      ?= go
NPM     ?= npm
BIN     := bin/eventide
# The same server with the test-only fault points of the crash tests
# (-tags faults, internal/faults); never shipped.
FAULTS_BIN := bin/eventide-faults
BENCH   := bin/eventide-bench
WEBDIST := web/dist/eventide-web/browser/index.html
HAVE_NODE := $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo yes)

# What the dashboard is built from: everything under web/ but what npm and
# ng write there, and the contracts its types come from. The dashboard is
# rebuilt only when one of these is newer than the last build.
WEB_SRC := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -path web/.angular -prune -o -type f -print 2>/dev/null) $(wildcard api/*.yaml)

.PHONY: run build web web-unchanged test deps go-test lint e2e interop redis-fixtures readme bench bench-smoke abuse fuzz clean

## run: build the server, and the dashboard when Node is present and web/ changed, then serve on :8080 with SQLite under ./data
run: $(BIN)
ifeq ($(HAVE_NODE),yes)
	@$(MAKE) --no-print-directory web || echo "dashboard build failed; the server still runs and / says how to build it"
endif
	./$(BIN) serve

build: $(BIN) $(FAULTS_BIN)

# Always handed to go build, whose cache makes an unchanged build quick.
$(BIN): FORCE
	$(GO) build -o $(BIN) ./cmd/eventide

$(FAULTS_BIN): FORCE
	$(GO) build -tags faults -o $(FAULTS_BIN) ./cmd/eventide

$(BENCH): FORCE
	$(GO) build -o $(BENCH) ./cmd/eventide-bench

## web: install the dashboard's npm packages from its lock file, check that its contract types match
## api/openapi.yaml and api/asyncapi.yaml (ADR 0021), and build it into web/dist, when web/ or api/ changed
web: $(WEBDIST)

$(WEBDIST): web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build -- --configuration production
	@touch $@

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund

## test: everything CI runs. The end-to-end and interop npm packages come
## before the Go tests: TestNodeClients (internal/socketio) and
## TestRequestsToNode (internal/realtime/redisadapter) drive Node with them,
## and must run here rather than skip.
test: NODE_CLIENT_TEST := 1
test: deps lint test/e2e/node_modules/.package-lock.json test/interop/node_modules/.package-lock.json go-test e2e interop readme web-unchanged

deps:
	bash scripts/ensure-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# go-test runs the engine's suite twice more, on the long-poll paths that are
# not the default: polls waiting on their goroutines (--poll-on-goroutines),
# and parked polls without the engine reading the next one (ADR 0031).
go-test:
	EVENTIDE_NODE_CLIENT_TEST=$(NODE_CLIENT_TEST) $(GO) test -race -count=1 ./...
	EVENTIDE_TEST_POLL_ON_GOROUTINES=1 $(GO) test -race -count=1 ./internal/engineio
	EVENTIDE_TEST_NO_NEXT_POLLS=1 $(GO) test -race -count=1 ./internal/engineio

## readme: run README.md's walkthrough as written against a fresh server (a few seconds)
readme: $(BIN) test/e2e/node_modules/.package-lock.json
	node scripts/readme-check.mjs

# web-unchanged: right after a build of the dashboard, `make run` would not
# build it again (it rebuilds only when web/ changed). Through a copy of
# $(MAKE), so that `make -n` only prints this question too.
ASK_MAKE := $(MAKE)
web-unchanged: web
	@$(ASK_MAKE) --no-print-directory -q web \
	  && echo "web-unchanged: make run does not rebuild the dashboard while web/ is unchanged" \
	  || { echo "web-unchanged: make run would rebuild the dashboard though web/ did not change"; exit 1; }

test/e2e/node_modules/.package-lock.json: test/e2e/package-lock.json
	cd test/e2e && $(NPM) ci --no-audit --no-fund

e2e: build web test/e2e/node_modules/.package-lock.json
	cd test/e2e && node --test --test-concurrency=1 --test-timeout=120000

test/interop/node_modules/.package-lock.json: test/interop/package-lock.json
	cd test/interop && $(NPM) ci --no-audit --no-fund

## interop: eventide beside Node's socket.io on @socket.io/redis-adapter, redis-streams-adapter and redis-emitter, one Redis
interop: build test/interop/node_modules/.package-lock.json
	cd test/interop && node --test --test-concurrency=1 --test-timeout=120000

## redis-fixtures: capture again what Node's Redis adapters write (internal/realtime/redisadapter/testdata)
redis-fixtures: test/interop/node_modules/.package-lock.json
	cd test/interop && node capture-fixtures.mjs

## bench: our server against the Node.js socket.io reference, same scenarios; prints ratios
bench: build $(BENCH)
	bash bench/run.sh

## bench-smoke: a seconds-long run of the load generator against our server (CI)
bench-smoke: build $(BENCH)
	bash bench/run.sh smoke

## abuse: the attacks of issue 9, each against a fresh server, with the figures docs/security.md records (~15 min)
abuse: build $(BENCH)
	./$(BENCH) abuse --spawn ./$(BIN) $(ABUSE_FLAGS)

## fuzz: run every fuzz target for a short while
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run=^$$ -fuzz="^$$t$$" -fuzztime=$${FUZZTIME:-20s} $$pkg || exit 1; \
	  done; done

clean:
	rm -rf bin web/dist test/e2e/artifacts

FORCE:
